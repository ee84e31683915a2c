"""The filtered-search and agent-memory sections: the ground truth, each searcher's answers and
the figures it records. What they return is checked, never how fast."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ruvector_bench.filtered import (
    SELECTIVITIES,
    allowed_rows,
    case_of,
    exact_filtered,
    faiss_searchers,
    hnswlib_searchers,
    postfilter_searcher,
    ruvector_searcher,
)
from ruvector_core.models import HnswConfig
from ruvector_core.runtime import Runtime

Bench = Callable[..., subprocess.CompletedProcess[str]]  # the `bench` fixture of conftest.py
K = 5


@pytest.fixture(scope="module")
def base() -> np.ndarray:
    return np.random.default_rng(5).standard_normal((400, 16)).astype(np.float32)


def test_allowed_rows_are_a_seeded_sorted_subset_of_at_least_one() -> None:
    rows = allowed_rows(1000, 0.1, seed=3)
    assert len(rows) == 100 and len(set(rows.tolist())) == 100 and np.all(np.diff(rows) > 0)
    assert np.array_equal(rows, allowed_rows(1000, 0.1, seed=3))
    assert len(allowed_rows(1000, 0.0001)) == 1


def test_exact_filtered_ranks_only_allowed_rows(base: np.ndarray) -> None:
    allowed = allowed_rows(len(base), 0.1, seed=1)
    query = base[int(allowed[0])]
    (truth,) = exact_filtered(query[None, :], base, allowed, K)
    assert int(allowed[0]) in truth and truth <= set(allowed.tolist()) and len(truth) == K


def test_every_searcher_returns_allowed_rows_near_the_truth(base: np.ndarray) -> None:
    allowed = allowed_rows(len(base), 0.1, seed=2)
    allowed_set = set(allowed.tolist())
    queries = base[:20] + 0.01
    truth = exact_filtered(queries, base, allowed, K)
    index = Runtime(backend="numpy").hnsw(HnswConfig(dimensions=16, m=8, ef_construction=64))
    index.insert_batch([str(i) for i in range(len(base))], base)
    searchers = {
        "ruvector": ruvector_searcher(index, index.allowlist(str(r) for r in allowed), 32, K),
        "post-filter": postfilter_searcher(index, allowed_set, 0.1, 32, K),
    }
    for name, maker in (("hnswlib", hnswlib_searchers(base, 1)), ("faiss", faiss_searchers(base))):
        if maker is not None:
            searchers[name] = maker(allowed_set, 32, K)
    for name, search in searchers.items():
        found = [search(q) for q in queries]
        assert all(set(f) <= allowed_set for f in found), name
        hits = sum(len(set(f) & t) for f, t in zip(found, truth, strict=True))
        assert hits / (K * len(queries)) >= 0.8, f"{name} found {hits} of {K * len(queries)}"
    assert all(len(searchers["ruvector"](q)) == K for q in queries)


def test_bench_command_records_every_selectivity(tmp_path: Path, bench: Bench) -> None:
    rows = np.random.default_rng(4).standard_normal((320, 16)).astype(np.float32)
    np.save(tmp_path / "rows.npy", rows)
    out = tmp_path / "results"
    result = bench(
        *("--data", str(tmp_path / "rows.npy"), "--queries", "20", "--ef", "16", "--repeats", "1"),
        *("--only", "filter", "--backend", "numpy", "--out", str(out), "--no-progress"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads((out / "results.json").read_text())["figures"]
    ours = {f["case"]: f for f in figures if f["engine"] == "numpy"}
    assert set(ours) == {case_of(fraction) for fraction in SELECTIVITIES}
    assert all(f["recall"] >= 0.95 and " 0 of 20 queries short" in f["note"] for f in ours.values())
    assert any(f["engine"].startswith("post-filter") for f in figures)


def test_bench_command_measures_the_memory_end_to_end(tmp_path: Path, bench: Bench) -> None:
    out = tmp_path / "results"
    arguments = ("--quick", "--queries", "20", "--only", "agent", "--backend", "native", "--backend", "onnx")
    result = bench(*arguments, "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stdout + result.stderr
    figures = {(f["case"], f["engine"]): f for f in json.loads((out / "results.json").read_text())["figures"]}
    for case in ("memory_search_where", "memory_search", "memory_search_keyword", "memory_search_hybrid"):
        assert figures[(case, "Memory (native)")]["stat"]["n"] == 19, "every query but the first is timed"
    assert figures[("memory_add", "Memory (native)")]["note"].endswith("items/s")
    assert ("memory_add", "embed_batch alone") in figures


def test_hybrid_task_scores_precision_and_the_first_relevant_rank() -> None:
    from ruvector_bench.hybrid import precision_and_rank

    assert precision_and_rank(["a", "b", "a"] + ["c"] * 7, "a") == (0.2, 1.0)
    assert precision_and_rank(["b", "b", "a"] + ["c"] * 7, "a") == (0.1, 1 / 3)
    assert precision_and_rank(["b"] * 10, "a") == (0.0, 0.0)


def test_hybrid_task_labels_corpus_texts_by_module_and_refuses_other_texts() -> None:
    from ruvector_bench.dataset import corpus_texts
    from ruvector_bench.hybrid import modules_of

    texts = corpus_texts()[:50]
    modules = modules_of(texts)
    assert modules is not None and len(modules) == 50 and all(m.endswith(".py") for m in modules)
    assert modules_of(["not a docstring of the standard library"]) is None
