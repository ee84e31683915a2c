"""Collecting per-check outcomes and printing them as one table."""

from __future__ import annotations

from collections import defaultdict
from typing import Final, Literal, TypedDict

import pytest

Outcome = Literal["pass", "FAIL", "skip"]
PASSED: Final = "pass"
FAILED: Final = "FAIL"
SKIPPED: Final = "skip"


class MatrixReport(TypedDict):
    """The matrix as ``--ruvector-report`` writes it (JSON)."""

    backends: list[str]
    checks: list[str]
    matrix: dict[str, dict[str, Outcome]]


class Matrix:
    """Outcome per (backend, check); a check counts as failed if any phase failed."""

    def __init__(self) -> None:
        self._cells: dict[str, dict[str, Outcome]] = defaultdict(dict)
        self._checks: list[str] = []

    def __bool__(self) -> bool:
        return bool(self._cells)

    def record(self, backend: str, check: str, report: pytest.TestReport) -> None:
        if check not in self._checks:
            self._checks.append(check)
        row = self._cells[backend]
        if report.failed:
            row[check] = FAILED
        elif report.skipped and row.get(check) != FAILED:
            row[check] = SKIPPED
        elif report.when == "call" and report.passed and check not in row:
            row[check] = PASSED

    def as_dict(self) -> MatrixReport:
        return {
            "backends": list(self._cells),
            "checks": list(self._checks),
            "matrix": {backend: dict(row) for backend, row in self._cells.items()},
        }

    def render(self) -> list[str]:
        backends = list(self._cells)
        width = max(len(c) for c in self._checks)
        columns = [max(len(b), 4) for b in backends]
        lines = [" " * width + "  " + "  ".join(b.ljust(w) for b, w in zip(backends, columns, strict=True))]
        for check in self._checks:
            cells = [self._cells[b].get(check, "-").ljust(w) for b, w in zip(backends, columns, strict=True)]
            lines.append(check.ljust(width) + "  " + "  ".join(cells))
        return lines
