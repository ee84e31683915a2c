"""``ruvector bench``: the parts that need no clock, and the command end to end on a tiny
run. Nothing here asserts a speed."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

from ruvector_bench import dataset, report, vectorops
from ruvector_bench.options import SECTIONS, BenchOptions, ordered_sections
from ruvector_bench.recall import fastest_at_recall, pareto, recall_at_k
from ruvector_bench.targets import verdict
from ruvector_bench.timing import Stat, format_range, format_seconds
from ruvector_core.models import Metric
from ruvector_core.runtime import Runtime

Bench = Callable[..., subprocess.CompletedProcess[str]]  # the `bench` fixture of conftest.py


def test_recall_counts_exact_neighbours_found() -> None:
    truth = np.array([[0, 1, 2], [3, 4, 5]])
    assert recall_at_k(truth, truth) == 1.0
    assert recall_at_k([[2, 1, 0], [5, 4, 3]], truth) == 1.0  # order does not matter
    assert recall_at_k([[0, 9, 8], [3, 4, -1]], truth) == pytest.approx(3 / 6)  # -1 is padding
    assert recall_at_k([[7, 8, 9], [6, 7, 8]], truth) == 0.0
    assert recall_at_k([[0, 1, 2, 7, 8], [3, 9, 9, 9, 9]], truth) == pytest.approx(4 / 6)  # wider rows


def test_recall_rejects_mismatched_rows() -> None:
    with pytest.raises(ValueError):
        recall_at_k([[0, 1]], np.array([[0, 1], [2, 3]]))


def _point(ef: int, recall: float, median: float) -> dict:
    return {"ef": ef, "recall": recall, "latency": {"median": median}}


def test_fastest_point_at_a_recall_and_the_pareto_front() -> None:
    points = [_point(10, 0.90, 1.0), _point(20, 0.96, 2.0), _point(40, 0.99, 3.0), _point(80, 0.98, 4.0)]
    assert fastest_at_recall(points, 0.95)["ef"] == 20
    assert fastest_at_recall(points, 0.999) is None
    assert [p["ef"] for p in pareto(points)] == [10, 20, 40]


def test_exact_neighbours_match_a_naive_search() -> None:
    rng = np.random.default_rng(1)
    base = rng.standard_normal((200, 16)).astype(np.float32)
    queries = rng.standard_normal((7, 16)).astype(np.float32)
    truth = dataset.exact_neighbours(queries, base, 5)
    unit = base / np.linalg.norm(base, axis=1, keepdims=True)
    for query, row in zip(queries, truth, strict=True):
        sims = unit @ (query / np.linalg.norm(query))
        assert list(row) == list(np.argsort(-sims)[:5])


def test_split_takes_queries_first_then_the_base() -> None:
    vectors = np.random.default_rng(2).standard_normal((50, 8)).astype(np.float32)
    split = dataset.split(vectors, queries=10, size=30, k=3)
    assert np.array_equal(split.queries, vectors[:10]) and np.array_equal(split.base, vectors[10:40])
    assert split.truth.shape == (10, 3) and split.k == 3
    assert len(dataset.split(vectors, queries=10, size=None, k=3).base) == 40
    with pytest.raises(ValueError):
        dataset.split(vectors, queries=10, size=41)


def test_short_sentences_are_short_prose_in_a_fixed_order() -> None:
    texts = [f"this is sentence number {i} of the corpus" for i in range(100)] + ["x" * 200, "a.b(c) = d[e] + f{g} h"]
    chosen = dataset.short_sentences(texts)
    assert len(chosen) == 32 and chosen == dataset.short_sentences(texts)
    assert all(t.startswith("this is sentence") for t in chosen)


def test_stat_summarises_median_and_quartiles() -> None:
    stat = Stat.of([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (stat.median, stat.q1, stat.q3, stat.min, stat.max, stat.n) == (3.0, 2.0, 4.0, 1.0, 5.0, 5)
    assert Stat.from_dict(stat.to_dict()) == stat
    with pytest.raises(ValueError):
        Stat.of([])


def test_times_are_printed_in_readable_units() -> None:
    assert format_seconds(0.0123) == "12.3 ms"
    assert format_seconds(4.5e-5) == "45.0 µs"
    assert format_seconds(1.0) == "1.00 s"
    assert format_seconds(None) == "—"
    assert format_range(0.0107, 0.011) == "10.7–11.0 ms"


def test_targets_pass_fail_and_not_applicable() -> None:
    assert verdict("embed_single", 0.004) == "pass"
    assert verdict("embed_single", 0.012) == "FAIL"
    assert verdict("pattern_match", None) == "n/a"
    assert verdict("hnsw_build", 3.0) == ""  # no target is set for builds
    assert verdict("hnsw_search", 0.001, base=5_000) == "n/a"  # defined on 10k rows
    assert verdict("hnsw_search", 0.001, base=10_700) == "pass"


def test_headline_ef_is_the_sweep_value_nearest_fifty() -> None:
    assert BenchOptions().headline_ef == 50
    assert BenchOptions(efs=(10, 48, 64)).headline_ef == 48
    quick = BenchOptions.preset(True, size=None, threads=2)
    assert quick.quick and quick.size == 5_000 and quick.threads == 2


def test_sections_run_in_their_own_order_and_unknown_ones_are_refused() -> None:
    assert ordered_sections(["hnsw", "embed"]) == ("embed", "hnsw")
    assert BenchOptions().sections == SECTIONS
    assert BenchOptions(sections=("pattern", "hnsw")).sections == ("hnsw", "pattern")
    with pytest.raises(ValueError, match="unknown section nope"):
        BenchOptions(sections=("hnsw", "nope"))


def test_a_users_npy_becomes_float32_rows(tmp_path: Path) -> None:
    path = tmp_path / "rows.npy"
    np.save(path, np.arange(12, dtype=np.float16).reshape(4, 3))
    data = dataset.file_embeddings(path)
    assert data.vectors.dtype == np.float32 and data.vectors.shape == (4, 3) and data.vectors[3, 2] == 11
    assert (data.source, data.texts) == ("file", None) and str(path) in data.description


@pytest.mark.parametrize(
    ("array", "complaint"),
    [
        (np.arange(4, dtype=np.float32), "not a float matrix"),
        (np.ones((3, 2), dtype=np.int64), "not a float matrix"),
        (np.array([[1.0, np.nan]], dtype=np.float32), "NaN or infinity"),
        (np.array([[1e39]]), "NaN or infinity"),  # finite in float64, infinite in float32
    ],
)
def test_a_users_npy_that_is_not_embeddings_is_refused(tmp_path: Path, array: np.ndarray, complaint: str) -> None:
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(ValueError, match=complaint):
        dataset.file_embeddings(path)
    (tmp_path / "text.npy").write_text("not numpy")
    with pytest.raises(ValueError, match="cannot read"):
        dataset.file_embeddings(tmp_path / "text.npy")


def test_vector_op_cases_cover_each_metric_the_kernels_and_the_floors() -> None:
    vectors = np.random.default_rng(4).standard_normal((40, 8)).astype(np.float32)
    cases = {case.case: case for case in vectorops.cases(["numpy"], vectors, batch_rows=60, quantize_rows=10)}
    assert list(cases) == [
        "distance",
        "distance_kernels",
        "batch_distance",
        "batch_distance_dot",
        "batch_distance_euclidean",
        "quantize_int8_one",
        "quantize_binary_one",
        "quantize_int8",
        "quantize_binary",
    ]
    kinds = {name: {n: kind for n, (kind, _) in case.timers.items()} for name, case in cases.items()}
    assert kinds["distance"] == {"numpy": "ruvector", "numpy-bare": "peer", "numpy a@b": "floor"}
    assert kinds["distance_kernels"] == {"numpy": "ruvector"}
    for metric in ("batch_distance", "batch_distance_dot", "batch_distance_euclidean"):
        assert kinds[metric] == {"numpy": "ruvector", "numpy-bare": "peer", "numpy read": "floor"}
        assert cases[metric].threaded and "60 x 8" in cases[metric].label
    assert all(not case.errors for case in cases.values())
    stats = vectorops.run(cases["batch_distance_euclidean"], repeats=2)
    assert {name: stat.n for name, stat in stats.items()} == {"numpy": 2, "numpy-bare": 2, "numpy read": 2}


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_the_numpy_peer_computes_what_the_backend_does(metric: Metric) -> None:
    rows = np.random.default_rng(5).standard_normal((31, 8)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)  # embeddings are unit length
    query, rows = rows[0], rows[1:]
    expected = Runtime(backend="numpy").vector_ops.batch_distance(query, rows, metric)
    assert np.allclose(vectorops.batch_peer(metric, rows, query)(), expected, atol=1e-5)


def _stat(median: float, n: int = 9) -> dict:
    return Stat(median, median * 0.9, median * 1.1, median * 0.8, median * 1.5, n).to_dict()


RESULTS = {
    "command": "ruvector bench --quick",
    "mode": "quick",
    "elapsed_seconds": 12.0,
    "settings": {"m": 16, "ef_construction": 100, "threads": 1},
    "data": {"description": "test data", "queries": 20, "base": 100, "dimensions": 384, "k": 10},
    "environment": {"cpu_model": "Test CPU", "nproc": 2, "memory_gib": 8},
    "figures": [
        {
            "case": "embed_single",
            "label": "embed one",
            "engine": "onnx",
            "kind": "ruvector",
            "stat": _stat(0.004),
            "note": "",
        },
        {
            "case": "embed_single",
            "label": "embed one",
            "engine": "onnxruntime-bare",
            "kind": "peer",
            "stat": _stat(0.002),
            "note": "",
        },
        {
            "case": "hnsw_search",
            "label": "search",
            "engine": "numba",
            "kind": "ruvector",
            "stat": _stat(6e-3),
            "note": "recall 0.990",
        },
        {
            "case": "hnsw_search",
            "label": "search",
            "engine": "hnswlib",
            "kind": "peer",
            "stat": _stat(3e-3),
            "note": "recall 0.991",
        },
        {
            "case": "hnsw_search",
            "label": "search",
            "engine": "faiss",
            "kind": "peer",
            "stat": _stat(2e-3),
            "note": "recall 0.992",
        },
        {
            "case": "distance",
            "label": "distance",
            "engine": "numba",
            "kind": "ruvector",
            "stat": None,
            "note": "failed: boom",
        },
    ],
    "curves": [
        {
            "engine": "numba",
            "kind": "ruvector",
            "build": _stat(1.0, 1),
            "error": None,
            "points": [
                {"ef": 16, "recall": 0.9, "qps": 1e4, "latency": _stat(1e-4)},
                {"ef": 50, "recall": 0.99, "qps": 5e3, "latency": _stat(2e-4)},
            ],
        },
        {
            "engine": "numpy-exact",
            "kind": "peer",
            "build": None,
            "error": None,
            "points": [{"ef": None, "recall": 1.0, "qps": 1e3, "latency": _stat(1e-3)}],
        },
    ],
    "not_applicable": [{"case": "pattern_match", "label": "pattern match", "reason": "no learning here"}],
    "missing_peers": {"usearch": "usearch is not installed"},
}


def test_rows_compare_each_backend_with_its_best_peer() -> None:
    full = {**RESULTS, "mode": "full", "data": {**RESULTS["data"], "base": 10_700}}  # judged: see targets
    rows = {(r.case, r.engine): r for r in report.rows(full)}
    embed = rows[("embed_single", "onnx")]
    assert (embed.peer, embed.ratio, embed.result) == ("onnxruntime-bare", "2.00x", "pass")
    assert "overhead over bare ORT +100 %" in embed.note
    search = rows[("hnsw_search", "numba")]
    assert (search.peer, search.peer_median, search.ratio, search.result) == ("faiss", "2.00 ms", "3.00x", "FAIL")
    assert rows[("distance", "numba")].median == "—" and "boom" in rows[("distance", "numba")].note
    pattern = rows[("pattern_match", "—")]
    assert (pattern.result, pattern.note) == ("n/a", "no learning here")
    assert [r.case for r in report.rows(RESULTS)] == ["embed_single", "hnsw_search", "distance", "pattern_match"]


def _figure(case: str, engine: str, kind: str, median: float, unit: str = "s", note: str = "") -> dict:
    return {
        "case": case,
        "label": case,
        "engine": engine,
        "kind": kind,
        "unit": unit,
        "stat": _stat(median),
        "note": note,
    }


def test_floors_are_notes_not_peers_and_variants_compare_with_the_plain_cases_peers() -> None:
    results = {
        **RESULTS,
        "figures": [
            _figure("distance", "native", "ruvector", 1e-6),
            _figure("distance", "numpy-bare", "peer", 3e-6),
            _figure("distance", "numpy a@b", "floor", 0.5e-6),
            _figure("distance_kernels", "native", "ruvector", 0.4e-6, note="the facade adds 600 ns per call (+60%)"),
        ],
        "not_applicable": [],
    }
    rows = {(r.case, r.engine): r for r in report.rows(results)}
    distance = rows[("distance", "native")]
    assert (distance.peer, distance.ratio, distance.note) == ("numpy-bare", "0.33x", "floor numpy a@b 500 ns")
    kernels = rows[("distance_kernels", "native")]
    assert (kernels.peer, kernels.peer_median) == ("numpy-bare", "3.00 µs")
    assert kernels.note == "the facade adds 600 ns per call (+60%)"


def test_bytes_are_shown_as_bytes() -> None:
    figures = [
        _figure("hnsw_memory", "native", "ruvector", 1843.4, unit="B"),
        _figure("hnsw_memory", "hnswlib", "peer", 1700.0, unit="B"),
    ]
    (memory,) = report.rows({**RESULTS, "figures": figures, "not_applicable": []})
    assert (memory.median, memory.spread, memory.peer_median, memory.ratio) == (
        "1,843 B",
        "1,659–2,028 B (n=9)",
        "1,700 B",
        "1.08x",
    )


def test_markdown_report_has_the_table_and_the_curve_grid() -> None:
    text = report.markdown(RESULTS)
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| case |"))
    assert header.count("|") == len(report.COLUMNS) + 1
    assert "| engine | build | ef=16 | ef=50 |" in text
    assert "| numba (ruvector) | 1.00 s | 0.900 / 100 µs | 0.990 / 200 µs |" in text
    assert "exact: 1.000 / 1.00 ms" in text
    assert "usearch is not installed" in text and "Test CPU" in text


def test_rich_tables_render() -> None:
    from rich.console import Console

    console = Console(width=250, record=True)
    for part in report.rich_tables(RESULTS, 250):
        console.print(part)
    out = console.export_text()
    assert "onnxruntime-bare" in out and "0.990 / 200 µs" in out
    assert "┃ case " in out, "250 columns hold the table"


@pytest.mark.skipif(find_spec("ruvector_conformance") is None, reason="needs the conformance fixture")
def test_bench_command_runs_a_tiny_quick_run_and_writes_its_files(tmp_path: Path, bench: Bench) -> None:
    out = tmp_path / "results"
    result = bench(
        "--quick",
        "--size",
        "300",
        "--queries",
        "40",
        "--ef",
        "10,32",
        "--repeats",
        "1",
        "--backend",
        "numpy",
        "--out",
        str(out),
        "--no-progress",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ruvector bench" in result.stdout and "recall@10" in result.stdout
    results = json.loads((out / "results.json").read_text())
    assert results["data"]["source"] == "fixture"  # --quick on a cold cache: no corpus embedding
    assert (results["data"]["queries"], results["data"]["base"], results["data"]["k"]) == (40, 300, 10)
    numpy_curve = next(c for c in results["curves"] if c["engine"] == "numpy")
    assert [p["ef"] for p in numpy_curve["points"]] == [10, 32]
    assert all(0.0 <= p["recall"] <= 1.0 and p["qps"] > 0 for p in numpy_curve["points"])
    cases = {(f["case"], f["engine"]) for f in results["figures"]}
    for case in ("hnsw_build", "hnsw_search", "hnsw_search_batch", "hnsw_insert_one", "distance", "batch_distance"):
        assert (case, "numpy") in cases
    assert ("quantize_int8", "numpy") in cases and ("quantize_binary", "numpy") in cases
    assert ("hnsw_search_graph", "numpy (graph)") in cases
    variants = {c["engine"]: c["variant_of"] for c in results["curves"] if c["variant_of"]}
    assert variants.get("numpy (graph)") == "numpy"
    assert {"embed_single", "embed_batch32"} <= {n["case"] for n in results["not_applicable"]}  # onnx not selected
    curves = json.loads((out / "recall_qps.json").read_text())
    assert curves["curves"] == results["curves"]
    assert "| case |" in (out / "results.md").read_text()
    if find_spec("matplotlib") is not None:
        assert (out / "recall_qps.png").read_bytes()[:4] == b"\x89PNG"


def test_bench_command_names_a_backend_that_is_not_installed(tmp_path: Path, bench: Bench) -> None:
    result = bench("--quick", "--backend", "no_such_backend", "--no-progress")
    assert result.returncode == 1
    assert "no_such_backend" in result.stderr and "not installed" in result.stderr


def test_bench_command_measures_a_users_file_and_only_the_sections_named(tmp_path: Path, bench: Bench) -> None:
    rows = np.random.default_rng(3).standard_normal((140, 24)).astype(np.float32)
    np.save(tmp_path / "rows.npy", rows)
    out = tmp_path / "results"
    result = bench(
        *("--data", str(tmp_path / "rows.npy"), "--queries", "20", "--ef", "16", "--repeats", "1"),
        *("--only", "hnsw", "--backend", "numpy", "--no-peers", "--out", str(out), "--no-progress"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    results = json.loads((out / "results.json").read_text())
    assert (results["data"]["source"], results["data"]["base"], results["data"]["dimensions"]) == ("file", 120, 24)
    assert results["settings"]["sections"] == ["hnsw"]
    cases = {f["case"] for f in results["figures"]}
    assert {"hnsw_build", "hnsw_search", "hnsw_search_at_recall"} <= cases
    assert all(case.startswith("hnsw_") for case in cases)
    assert [c["engine"] for c in results["curves"]][:2] == ["numpy", "numpy (graph)"]


def test_bench_command_refuses_an_unknown_section(tmp_path: Path, bench: Bench) -> None:
    result = bench("--only", "hnsw,warp-drive", "--no-progress")
    assert result.returncode == 2 and "unknown section warp-drive" in result.stdout + result.stderr
