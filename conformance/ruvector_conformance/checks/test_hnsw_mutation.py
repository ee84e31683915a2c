"""Delete, update and bad input: the index changes exactly as documented, or not at all."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import ruvector_core as rv
from ruvector_core.models import Metric

from ..data import corpus
from .conftest import small_index

pytestmark = pytest.mark.capability("hnsw")


def _all_hits(index: rv.HnswIndex, queries: np.ndarray, k: int = 50) -> set[str]:
    ids, _ = index.search_batch(queries, k=k, ef=400)
    return {i for i in ids.ravel() if i is not None}


def test_delete(runtime: rv.Runtime) -> None:
    data = corpus()
    index = small_index(runtime)
    entry_ish = [h.id for h in index.search(data.base[0], k=20)]  # hubs near a probe
    gone = set(entry_ish[:10]) | set(data.ids[100:150])
    for id_ in gone:
        assert index.delete(id_) is True
    assert len(index) == 300 - len(gone)
    assert all(id_ not in index for id_ in gone)
    assert not gone & _all_hits(index, np.vstack([data.queries[:50], data.base[:300]]))
    assert index.delete(entry_ish[0]) is False, "deleting twice returns False"
    assert index.delete("never-inserted") is False
    assert index.stats().count == len(index)
    assert set(index.ids()) == set(data.ids[:300]) - gone


def test_delete_keeps_k_results(runtime: rv.Runtime) -> None:
    """With most of the graph deleted, searches still find every live vector."""
    data = corpus()
    index = small_index(runtime)
    survivors = set(data.ids[:300:25])  # 12 live vectors
    for id_ in data.ids[:300]:
        if id_ not in survivors:
            index.delete(id_)
    for query in data.queries[:20]:
        hits = index.search(query, k=10)
        assert len(hits) == 10 and {h.id for h in hits} <= survivors
        assert {h.id for h in index.search(query, k=50)} == survivors


def test_reinsert_after_delete(runtime: rv.Runtime) -> None:
    data = corpus()
    index = small_index(runtime)
    index.delete("doc-7")
    index.insert("doc-7", data.base[7])
    assert "doc-7" in index and len(index) == 300
    top = index.search(data.base[7], k=1)[0]
    assert top.id == "doc-7" and top.score == pytest.approx(1.0, abs=1e-4)


def test_update_existing_id(runtime: rv.Runtime) -> None:
    """Inserting an existing id replaces its vector; the old one is never returned."""
    data = corpus()
    index = small_index(runtime)
    index.insert("doc-3", data.base[2000])
    assert len(index) == 300
    top = index.search(data.base[2000], k=1)[0]
    assert top.id == "doc-3" and top.score == pytest.approx(1.0, abs=1e-4)
    old = index.search(data.base[3], k=5)
    assert all(h.id != "doc-3" or h.score < 0.999 for h in old), "the old vector is still served"
    index.insert_batch(["doc-4", "new-1"], data.base[[2001, 2002]])
    assert len(index) == 301
    assert index.search(data.base[2001], k=1)[0].id == "doc-4"


def test_bad_input_leaves_index_unchanged(runtime: rv.Runtime) -> None:
    data = corpus()
    index = small_index(runtime, rows=100)
    before = index.serialize()
    nan_row = data.base[:3].copy()
    nan_row[2, 5] = np.nan
    inf_row = data.base[0].copy()
    inf_row[0] = np.inf
    bad_calls: list[tuple[type[rv.RuvectorError], Callable[[], object]]] = [
        (rv.DimensionMismatchError, lambda: index.insert("x", np.ones(383, dtype=np.float32))),
        (rv.DimensionMismatchError, lambda: index.insert_batch(["x", "y"], np.ones((2, 385), dtype=np.float32))),
        (rv.InvalidInputError, lambda: index.insert("x", inf_row)),
        (rv.InvalidInputError, lambda: index.insert_batch(["x", "y", "z"], nan_row)),
        (rv.InvalidInputError, lambda: index.insert_batch(["x", "x"], data.base[:2])),
        (rv.InvalidInputError, lambda: index.insert_batch(["x"], data.base[:2])),
        (rv.InvalidInputError, lambda: index.insert(17, data.base[0])),  # type: ignore[arg-type]  # deliberately not a str
        (rv.InvalidInputError, lambda: index.insert("", data.base[0])),
        (rv.InvalidInputError, lambda: index.insert("x", [[1.0, 2.0]])),
        (rv.InvalidInputError, lambda: index.search(data.queries[0], k=0)),
        (rv.InvalidInputError, lambda: index.search(data.queries[0], k=-3)),
        (rv.InvalidInputError, lambda: index.search(data.queries[0], k=5, ef=0)),
        (rv.DimensionMismatchError, lambda: index.search(np.ones(10, dtype=np.float32), k=5)),
        (rv.InvalidInputError, lambda: index.search(inf_row, k=5)),
        (rv.InvalidInputError, lambda: index.search_batch(nan_row, k=5)),
    ]
    for error, call in bad_calls:
        with pytest.raises(error):
            call()
    assert index.delete("no-such-id") is False
    assert len(index) == 100
    assert index.serialize() == before, "a rejected call changed the index"


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot"])
def test_search_rejects_non_finite_queries(runtime: rv.Runtime, metric: Metric) -> None:
    """The core finds NaN and infinity in a query through the search's scores, so the
    backend must let them reach every distance (a NaN that vanished would be answered)."""
    data = corpus()
    index = small_index(runtime, rows=100, metric=metric)
    for position in (0, 191, 383):
        for bad in (np.nan, np.inf, -np.inf):
            query = data.queries[0].copy()
            query[position] = bad
            with pytest.raises(rv.InvalidInputError):
                index.search(query, k=5)
    huge = data.queries[0] * np.float32(1e30)  # finite, though its squared norm overflows
    with np.errstate(over="ignore"):  # numpy's warning about that overflow is expected
        try:  # beyond the stored vectors' bound: answered only if every score stays finite
            scores = index.search(huge, k=5).scores
        except rv.InvalidInputError:
            scores = [0.0] * 5
    assert len(scores) == 5 and np.isfinite(scores).all() and scores == sorted(scores, reverse=True)
    bounded = data.queries[0] / np.abs(data.queries[0]).max() * np.float32(2**54)
    scores = index.search(bounded, k=5).scores  # within the bound: always answered, finitely
    assert len(scores) == 5 and np.isfinite(scores).all() and scores == sorted(scores, reverse=True)
