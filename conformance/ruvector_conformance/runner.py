"""Running the suite programmatically: what ``ruvector conformance`` calls."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

CHECKS_PACKAGE = "ruvector_conformance.checks"


def run(backends: Sequence[str] = (), report: str | None = None, pytest_args: Sequence[str] = ()) -> int:
    """Run every check against ``backends`` (all installed ones when empty); pytest's exit code."""
    # The package is already imported by whoever calls this, too late for assert rewriting
    # of its __init__ only; the checks themselves are rewritten as usual.
    args = [
        "--pyargs",
        CHECKS_PACKAGE,
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
        *pytest_args,
    ]
    for name in backends:
        args += ["--ruvector-backend", name]
    if report:
        args += ["--ruvector-report", report]
    return int(pytest.main(args))
