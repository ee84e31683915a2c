"""The suite catches what it claims to catch: broken toy backends fail the matching checks
(and only those), run the way a backend author runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TOYS = {
    "broken_distance": "toys.broken_distance:SPEC",
    "broken_delete": "toys.broken_delete:SPEC",
    "broken_load": "toys.broken_load:SPEC",
    "ignores_storage": "toys.ignores_storage:SPEC",
}
EXPECTED_FAILURES = {
    "broken_distance": {"distances"},
    # a tombstone that was never set is also missing from the saved file
    "broken_delete": {
        "delete",
        "delete_keeps_k_results",
        "round_trip_keeps_deletions_and_stays_writable",
        "deletes_and_filters_per_storage",
    },
    # random bytes fail the header check in the core before any backend sees them, so
    # only the crafted variants with valid headers and checksums reach the lenient loader:
    # those of the corrupt-bytes check and the crafted files of the hostile checks
    "broken_load": {
        "rejects_corrupt_bytes",
        "refuses_a_file_that_expands_hugely",
        "rejects_a_repeated_link",
        "rejects_an_empty_id",
        "loader_bounds_vectors",
        "rejects_hostile_version_2",
        "refuses_a_code_file_that_expands_hugely",
        # the fuzzer's inputs load (as empty indexes) where at least half must be refused
        "loader_fuzz_under_an_address_space_limit",
    },
    # it saves float32 bytes when asked for codes: no codes to score from, no memory saved
    "ignores_storage": {"stores_the_kind_asked_for", "scores_per_storage", "codes_take_less_memory"},
}


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    from core_support import write_site

    root = tmp_path_factory.mktemp("toys")
    site = write_site(root / "site", TOYS)
    report = root / "matrix.json"
    args = [sys.executable, "-m", "ruvector_conformance", "-q", "--report", str(report)]
    for name in TOYS:
        args += ["--backend", name]
    result = subprocess.run(args, capture_output=True, text=True, env=_env_with(site), timeout=900)
    assert result.returncode == 1, "the suite must fail for broken backends\n" + result.stdout[-3000:]
    return json.loads(report.read_text())["matrix"]


@pytest.mark.parametrize("backend", sorted(TOYS))
def test_broken_backend_fails_exactly_the_matching_checks(matrix, backend: str) -> None:
    row = matrix[backend]
    failed = {check for check, outcome in row.items() if outcome == "FAIL"}
    assert failed == EXPECTED_FAILURES[backend]
    assert all(outcome in {"pass", "skip"} for check, outcome in row.items() if check not in failed)


def test_undeclared_capabilities_are_skipped(matrix) -> None:
    assert matrix["broken_distance"]["recall_at_10"] == "skip"
    assert matrix["broken_delete"]["distances"] == "skip"
    assert matrix["broken_load"]["recall_at_10"] == "pass"


def _env_with(site: Path) -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
