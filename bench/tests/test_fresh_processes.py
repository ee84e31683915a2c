"""The cases measured in new processes (memory, start-up): what they report, on tiny
indexes; never how fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ruvector_bench import fresh, memory_probe, startup
from ruvector_bench.fresh import ProbeError
from ruvector_bench.memory import Probe, Request, run_probe
from ruvector_core.models import HnswConfig
from ruvector_core.runtime import Runtime

Bench = Callable[..., subprocess.CompletedProcess[str]]  # the `bench` fixture of conftest.py

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
    """In a process of its own: in this one, freed memory the allocator kept could be
    reused, and the resident size would not grow."""
    code = (
        "import numpy as np; from ruvector_bench import memory_probe as m; before = m.resident_bytes();"
        " kept = np.ones(64 << 20, dtype=np.uint8); print(before, m.resident_bytes())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    before, after = (int(x) for x in out.split())
    assert after - before >= 60 << 20


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


def test_an_empty_cache_environment_moves_the_user_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/somewhere/warm")
    env = startup.empty_cache_environment(tmp_path / "cache")
    assert env["XDG_CACHE_HOME"] == str(tmp_path / "cache") and "NUMBA_CACHE_DIR" not in env
    assert env["PATH"] == os.environ["PATH"]


@pytest.mark.parametrize("mode", ["load", "build"])
def test_the_startup_probe_times_each_phase_to_a_first_result(tmp_path: Path, mode: str) -> None:
    vectors = np.random.default_rng(9).standard_normal((60, 8)).astype(np.float32)
    index = Runtime(backend="numpy").hnsw(HnswConfig(dimensions=8))
    index.insert_batch([str(i) for i in range(50)], vectors[:50])
    (tmp_path / "index.ruv").write_bytes(index.serialize())
    np.save(tmp_path / "vectors.npy", vectors[:50])
    np.save(tmp_path / "query.npy", vectors[55])
    data = tmp_path / ("index.ruv" if mode == "load" else "vectors.npy")
    line, wall = fresh.run(
        ["-P", str(startup.PROBE), "numpy", mode, str(data), str(tmp_path / "query.npy")], os.environ
    )
    seconds = json.loads(line)
    assert set(seconds) == {"imports", "prepare", "search", "total"}
    assert seconds["total"] == pytest.approx(seconds["imports"] + seconds["prepare"] + seconds["search"])
    assert 0 < seconds["total"] < wall


def test_bench_command_measures_memory_and_one_thread_builds_in_fresh_processes(tmp_path: Path, bench: Bench) -> None:
    np.save(tmp_path / "rows.npy", np.random.default_rng(8).standard_normal((90, 12)).astype(np.float32))
    out = tmp_path / "results"
    result = bench(
        *("--data", str(tmp_path / "rows.npy"), "--queries", "10", "--repeats", "2", "--only", "memory"),
        *("--backend", "numpy", "--no-peers", "--out", str(out), "--no-progress"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures = {f["case"]: f for f in json.loads((out / "results.json").read_text())["figures"]}
    assert set(figures) == {"hnsw_build_one_thread", "hnsw_memory"}
    assert figures["hnsw_build_one_thread"]["engine"] == "numpy" and figures["hnsw_build_one_thread"]["stat"]["n"] == 2
    assert figures["hnsw_memory"]["unit"] == "B" and figures["hnsw_memory"]["note"].startswith("stats(): ")


def test_bench_command_times_first_searches_of_new_processes(tmp_path: Path, bench: Bench) -> None:
    np.save(tmp_path / "rows.npy", np.random.default_rng(10).standard_normal((80, 8)).astype(np.float32))
    out = tmp_path / "results"
    result = bench(
        *("--data", str(tmp_path / "rows.npy"), "--queries", "10", "--only", "startup", "--backend", "numpy"),
        *("--out", str(out), "--no-progress"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads((out / "results.json").read_text())["figures"]
    assert [(f["case"], f["engine"]) for f in figures] == [
        ("first_search_load", "numpy"),
        ("first_search_build", "numpy"),
    ]
    assert all(f["stat"]["n"] == 3 and f["note"].startswith("empty cache ") for f in figures)


def test_bench_command_measures_indexes_over_codes_with_their_resident_memory(tmp_path: Path, bench: Bench) -> None:
    # large enough that every index keeps whole pages more than the process held before
    np.save(tmp_path / "rows.npy", np.random.default_rng(9).standard_normal((610, 64)).astype(np.float32))
    out = tmp_path / "results"
    result = bench(
        *("--data", str(tmp_path / "rows.npy"), "--queries", "10", "--ef", "16", "--repeats", "1"),
        *("--only", "quantized", "--backend", "numpy", "--no-peers", "--out", str(out), "--no-progress"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    results = json.loads((out / "results.json").read_text())
    figures = {(f["case"], f["engine"]): f for f in results["figures"]}
    engines = ["numpy int8", "numpy int8 no-floats", "numpy binary", "numpy binary no-floats"]
    for engine in engines:
        search, memory = figures[("quantized_search", engine)], figures[("quantized_memory", engine)]
        assert search["stat"] and 0.0 <= search["recall"] <= 1.0
        assert memory["unit"] == "B" and memory["stat"]["median"] > 0
        assert "x its float32 index" in memory["note"]
    assert {c["engine"] for c in results["curves"]} == set(engines)
