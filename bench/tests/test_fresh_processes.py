"""The cases measured in fresh processes: what they report, on tiny indexes; never how fast."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ruvector_bench import memory_probe
from ruvector_bench.memory import Probe, ProbeError, Request, run_probe

RequestFor = Callable[..., Request]


@pytest.fixture
def request_for(tmp_path: Path) -> RequestFor:
    """Requests for engines over a tiny base saved in ``tmp_path``."""
    vectors = np.random.default_rng(6).standard_normal((120, 8)).astype(np.float32)
    np.save(tmp_path / "base.npy", vectors[20:])
    np.save(tmp_path / "queries.npy", vectors[:20])

    def make(engine: str, repeats: int = 2) -> Request:
        return Request(engine, str(tmp_path / "base.npy"), str(tmp_path / "queries.npy"), 5, repeats, 60.0)

    return make


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the resident size is read from /proc")
def test_the_resident_size_is_read_and_grows_with_what_is_kept() -> None:
    before = memory_probe.resident_bytes()
    kept = np.ones(64 << 20, dtype=np.uint8)  # 64 MiB, touched
    after = memory_probe.resident_bytes()
    assert before is not None and after is not None and after - before >= 60 << 20
    del kept


def test_a_probe_builds_the_base_and_reports_the_index_own_account(request_for: RequestFor) -> None:
    result = memory_probe.probe(request_for("numpy", repeats=3))
    assert result.vectors == 100 and len(result.builds) == 3 and all(b > 0 for b in result.builds)
    assert result.reported_bytes is not None and result.reported_bytes >= 100 * 8 * 4  # at least the vectors
    assert isinstance(result.resident_bytes, int) or not sys.platform.startswith("linux")


def test_the_probe_runs_in_a_fresh_process_on_one_thread(request_for: RequestFor) -> None:
    result = run_probe(request_for("hnswlib", repeats=1))
    assert isinstance(result, Probe) and result.vectors == 100 and len(result.builds) == 1
    assert result.reported_bytes is None  # hnswlib gives no account of its own


def test_a_failing_probe_says_why(request_for: RequestFor) -> None:
    with pytest.raises(ProbeError, match="no_such_backend"):
        run_probe(request_for("no_such_backend"))
