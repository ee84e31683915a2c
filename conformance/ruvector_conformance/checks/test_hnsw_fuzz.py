"""A short run of the loader fuzzer (``python -m ruvector_conformance.fuzz``; the long job
is ``make fuzz``): random, checksum-correct and crafted index files, loaded in a worker
process under a 4 GiB address-space limit, where an allocation a file talks a loader into
fails as it would on a small machine. Every input must be refused with a typed error or
give an index that searches, inserts and saves; a crash, a hang, an untyped error, a NaN
or an out-of-order score fails the check."""

from __future__ import annotations

import sys

import pytest

from ruvector_conformance.fuzz import supervisor

pytestmark = [
    pytest.mark.capability("hnsw"),
    pytest.mark.skipif(sys.platform == "win32", reason="the worker limits its address space with RLIMIT_AS"),
]

INPUTS = 3_000


def test_loader_fuzz_under_an_address_space_limit(backend_name: str) -> None:
    report = supervisor.run(backend_name, seed=1, count=INPUTS, memory_bytes=4 << 30, hang_seconds=120)
    assert report.inputs == INPUTS
    assert report.bad() == 0, report.findings[:5]
    assert report.counts["loaded"] > INPUTS // 20 and report.counts["refused"] > INPUTS // 2, report.counts
    assert {report.counts[f"kind:{kind}"] for kind in ("random", "checksum", "crafted")} == {INPUTS // 3}
