"""Search quality and result semantics, measured against exact brute force."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import ruvector_core as rv
from ruvector_core.models import Metric

from ..data import corpus, exact_top_k, recall, similarities
from .conftest import small_index

pytestmark = pytest.mark.capability("hnsw")

MIN_RECALL = 0.95


def test_recall_at_10(corpus_index: rv.HnswIndex) -> None:
    """recall@10 >= 0.95 at ef_search 64 on 3,000 real embeddings (M=16, ef_construction=100)."""
    data = corpus()
    ids, _ = corpus_index.search_batch(data.queries, k=10, ef=64)
    measured = recall(ids, data.exact_top_k(10), data.ids)
    assert measured >= MIN_RECALL, f"recall@10 = {measured:.4f} at ef 64"


@pytest.mark.parametrize("metric", ["euclidean", "dot"])
def test_recall_other_metrics(runtime: rv.Runtime, metric: Metric) -> None:
    """Rows rescaled by random factors, so euclidean and dot differ from cosine."""
    data = corpus()
    rng = np.random.default_rng(11)
    base = data.base[:1500] * rng.uniform(0.5, 2.0, size=(1500, 1)).astype(np.float32)
    index = runtime.hnsw(rv.HnswConfig(dimensions=384, m=16, ef_construction=100, metric=metric))
    index.insert_batch(data.ids[:1500], base)
    ids, _ = index.search_batch(data.queries, k=10, ef=64)
    measured = recall(ids, exact_top_k(data.queries, base, 10, metric), data.ids)
    assert measured >= MIN_RECALL, f"{metric} recall@10 = {measured:.4f} at ef 64"


def test_scores_are_similarities(corpus_index: rv.HnswIndex) -> None:
    """Each score is the exact similarity of the returned vector, best first."""
    data = corpus()
    row_of = {id_: row for row, id_ in enumerate(data.ids)}
    for query in data.queries[:50]:
        hits = corpus_index.search(query, k=10)
        assert len(hits) == 10 and len({h.id for h in hits}) == 10
        scores = np.array([h.score for h in hits])
        assert np.all(np.diff(scores) <= 1e-6), "results must be sorted best first"
        truth = similarities(query[None, :], data.base[[row_of[h.id] for h in hits]], "cosine")[0]
        assert np.allclose(scores, truth, atol=1e-4)


def test_search_batch_matches_search(corpus_index: rv.HnswIndex) -> None:
    queries = corpus().queries[:40]
    ids, scores = corpus_index.search_batch(queries, k=7, ef=32)
    assert ids.shape == (40, 7) and scores.shape == (40, 7) and scores.dtype == np.float32
    for row, query in enumerate(queries):
        single = corpus_index.search(query, k=7, ef=32)
        assert list(ids[row]) == [h.id for h in single]
        assert np.allclose(scores[row], [h.score for h in single], atol=1e-5)


def test_larger_ef_never_hurts(corpus_index: rv.HnswIndex) -> None:
    data = corpus()
    truth = data.exact_top_k(10)
    measured = [recall(corpus_index.search_batch(data.queries, 10, ef)[0], truth, data.ids) for ef in (10, 40, 200)]
    assert measured[1] >= measured[0] - 0.01 and measured[2] >= measured[1] - 0.01, measured
    assert measured[2] >= 0.99, f"recall@10 at ef 200 = {measured[2]:.4f}"


def test_small_and_empty_indexes(runtime: rv.Runtime) -> None:
    config = rv.HnswConfig(dimensions=384, m=4, ef_construction=16)
    index = runtime.hnsw(config)
    query = corpus().queries[0]
    assert index.search(query, k=5) == [] and len(index) == 0
    ids, scores = index.search_batch(corpus().queries[:2], k=3)
    assert ids.shape == (2, 3) and all(i is None for i in ids.ravel()) and np.all(np.isneginf(scores))
    index.insert("only", corpus().base[0])
    assert [h.id for h in index.search(query, k=5)] == ["only"]
    index.insert_batch(["a", "b", "c"], corpus().base[1:4])
    assert sorted(h.id for h in index.search(query, k=10)) == ["a", "b", "c", "only"]
    ids, scores = index.search_batch(corpus().queries[:2], k=6)
    assert all(list(row[:4]) != [None] * 4 and list(row[4:]) == [None, None] for row in ids)
    assert np.all(np.isneginf(scores[:, 4:])) and np.all(np.isfinite(scores[:, :4]))


def test_concurrent_searches(corpus_index: rv.HnswIndex) -> None:
    """Searches from several threads at once give exactly the single-threaded results."""
    queries = corpus().queries[:64]
    expected = [[h.id for h in corpus_index.search(q, k=10)] for q in queries]
    failures: list[str] = []

    def worker(offset: int) -> None:
        try:
            for round_ in range(3):
                for i in range(len(queries)):
                    j = (i + offset + round_) % len(queries)
                    got = [h.id for h in corpus_index.search(queries[j], k=10)]
                    if got != expected[j]:
                        failures.append(f"query {j}: {got} != {expected[j]}")
            ids, _ = corpus_index.search_batch(queries, k=10)
            if [list(r) for r in ids] != expected:
                failures.append("search_batch differs under concurrency")
        except Exception as exc:  # surfaced below: a thread's exception is otherwise lost
            failures.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(t * 7,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]


def test_searches_while_inserting(runtime: rv.Runtime) -> None:
    """Readers never see a torn index while a writer inserts."""
    data = corpus()
    index = small_index(runtime, rows=200)
    failures: list[str] = []
    done = threading.Event()

    def reader() -> None:
        try:
            while not done.is_set():
                hits = index.search(data.queries[0], k=10)
                if len(hits) != 10 or len({h.id for h in hits}) != 10:
                    failures.append(f"torn result: {hits}")
        except Exception as exc:
            failures.append(repr(exc))

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        for start in range(200, 600, 50):
            index.insert_batch(data.ids[start : start + 50], data.base[start : start + 50])
    finally:
        done.set()
        for t in readers:
            t.join()
    assert not failures, failures[:3]
    assert len(index) == 600
