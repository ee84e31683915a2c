"""Filtered search: ``allow`` is applied inside the graph walk, measured against exact
brute force over the allowed vectors."""

from __future__ import annotations

import numpy as np
import pytest

import ruvector_core as rv

from ..data import corpus, similarities
from .conftest import small_index

pytestmark = pytest.mark.capability("hnsw")

MIN_RECALL = 0.95
K = 10


def allowed_rows(fraction: float, seed: int) -> np.ndarray:
    """A random subset of the base rows (at least one), sorted."""
    rows = len(corpus().base)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(rows, size=max(1, round(rows * fraction)), replace=False))


def filtered_truth(queries: np.ndarray, rows: np.ndarray, k: int) -> list[set[str]]:
    """The exact ``min(k, len(rows))`` nearest allowed ids of each query."""
    data = corpus()
    sims = similarities(queries, data.base[rows], "cosine")
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return [{data.ids[rows[i]] for i in row} for row in order]


@pytest.mark.parametrize("fraction", [0.5, 0.1, 0.01, 0.001])
def test_filtered_recall_and_count(corpus_index: rv.HnswIndex, fraction: float) -> None:
    """recall@10 >= 0.95 against exact filtered brute force, and exactly min(k, allowed)
    hits, every one allowed, for every query, at 50 %, 10 %, 1 % and 0.1 % selectivity."""
    data = corpus()
    rows = allowed_rows(fraction, seed=int(fraction * 10_000))
    allowed = {data.ids[r] for r in rows}
    allow = corpus_index.allowlist(allowed)
    queries = data.queries[:100]
    truth = filtered_truth(queries, rows, K)
    want = min(K, len(rows))
    found = 0
    for query, exact in zip(queries, truth, strict=True):
        hits = corpus_index.search(query, k=K, ef=64, allow=allow)
        assert len(hits) == want, f"{len(hits)} hits where {want} allowed items exist"
        assert set(hits.ids) <= allowed, "a search returned an id outside its allow set"
        found += len(set(hits.ids) & exact)
    measured = found / (want * len(queries))
    assert measured >= MIN_RECALL, f"filtered recall@10 = {measured:.4f} at {fraction:.1%} selectivity"


@pytest.mark.parametrize("fraction", [0.1, 0.001])
def test_filtered_search_batch_matches_search(corpus_index: rv.HnswIndex, fraction: float) -> None:
    data = corpus()
    allowed = [data.ids[r] for r in allowed_rows(fraction, seed=7)]
    queries = data.queries[:20]
    ids, scores = corpus_index.search_batch(queries, k=K, ef=64, allow=allowed)
    assert ids.shape == (20, K) and scores.dtype == np.float32
    want = min(K, len(allowed))
    for row, query in enumerate(queries):
        single = corpus_index.search(query, k=K, ef=64, allow=allowed)
        assert list(ids[row, :want]) == single.ids
        assert np.allclose(scores[row, :want], single.scores, atol=1e-5)
        assert all(i is None for i in ids[row, want:]) and np.all(scores[row, want:] == -np.inf)


def test_filtered_scores_are_exact_similarities(corpus_index: rv.HnswIndex) -> None:
    data = corpus()
    rows = allowed_rows(0.1, seed=3)
    row_of = {data.ids[r]: r for r in rows}
    for query in data.queries[:20]:
        hits = corpus_index.search(query, k=K, allow=list(row_of))
        truth = similarities(query[None, :], data.base[[row_of[i] for i in hits.ids]], "cosine")[0]
        assert np.allclose(hits.scores, truth, atol=1e-4)
        assert np.all(np.diff(hits.scores) <= 1e-6), "results must be sorted best first"


def test_empty_and_unknown_allow_sets_return_nothing(corpus_index: rv.HnswIndex) -> None:
    query = corpus().queries[0]
    assert len(corpus_index.search(query, k=K, allow=[])) == 0
    assert len(corpus_index.search(query, k=K, allow=["no-such-id", "neither"])) == 0
    ids, scores = corpus_index.search_batch(corpus().queries[:3], k=4, allow=set())
    assert ids.shape == (3, 4) and all(i is None for i in ids.ravel()) and np.all(scores == -np.inf)


def test_deleted_ids_are_never_returned(runtime: rv.Runtime) -> None:
    data = corpus()
    index = small_index(runtime, rows=300)
    allowed = data.ids[:40]
    allow = index.allowlist(allowed)
    for id_ in allowed[:30]:
        assert index.delete(id_)
    for query in data.queries[:20]:
        hits = index.search(query, k=K, allow=allow)
        assert set(hits.ids) <= set(allowed[30:])
        assert len(hits) == K, "every remaining allowed item must come back"


def test_a_reused_allowlist_follows_the_index(runtime: rv.Runtime) -> None:
    """A prepared filter stays right after inserts, replacements and deletes."""
    data = corpus()
    index = small_index(runtime, rows=200)
    allow = index.allowlist(["doc-5", "doc-6", "late"])
    query = data.base[5]
    assert set(index.search(query, k=K, allow=allow).ids) == {"doc-5", "doc-6"}
    index.insert("late", data.base[250])
    assert set(index.search(data.base[250], k=K, allow=allow).ids) == {"late", "doc-5", "doc-6"}
    index.insert("doc-5", data.base[260])  # replaced: the old vector must not be found
    hits = index.search(data.base[260], k=1, allow=allow)
    assert hits.ids == ["doc-5"] and hits.scores[0] == pytest.approx(1.0, abs=1e-4)
    index.delete("doc-6")
    assert set(index.search(query, k=K, allow=allow).ids) == {"doc-5", "late"}


def test_bad_allow_arguments_are_typed_errors(corpus_index: rv.HnswIndex) -> None:
    query = corpus().queries[0]
    with pytest.raises(rv.InvalidInputError):
        corpus_index.search(query, k=K, allow="doc-1")
    with pytest.raises(rv.InvalidInputError):
        corpus_index.search(query, k=K, allow=[1, 2])  # type: ignore[list-item]  # a wrong type on purpose
    with pytest.raises(rv.InvalidInputError):
        corpus_index.search(np.full(384, np.nan, dtype=np.float32), k=K, allow=[])
