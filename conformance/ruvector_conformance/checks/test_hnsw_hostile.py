"""Crafted index files and vectors that are valid in shape but hostile in what they make a
backend do: expand in memory, repeat a link, overflow a score. Every backend gives the
same verdict on the same bytes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import ruvector_core as rv
from ruvector_core import index_format
from ruvector_core.models import MAX_COMPONENT, MAX_LEVEL, FloatsPlacement, Metric, StorageKind

from ..crafted import linkless_graph
from .conftest import small_index

pytestmark = pytest.mark.capability("hnsw")


def test_refuses_a_file_that_expands_hugely(runtime: rv.Runtime) -> None:
    """1 MB of nodes on layer 63 with m = 256 would take 267 MB: refused before allocating."""
    blob = index_format.encode(linkless_graph(4_000, 1, 256, MAX_LEVEL))
    assert len(blob) < 1_100_000
    with pytest.raises(rv.CorruptIndexError, match="memory"):
        runtime.hnsw_load(blob)


@pytest.mark.parametrize(("storage", "floats"), [("float32", "resident"), ("int8", "none"), ("binary", "none")])
def test_sparse_honest_graph_stays_within_the_bound(
    runtime: rv.Runtime, storage: StorageKind, floats: FloatsPlacement
) -> None:
    """The sparsest honest graph (one dimension, m = 256: a link or two per node) expands
    by less than the bound, so the bound refuses only crafted files; code-only graphs too."""
    config = rv.HnswConfig(
        dimensions=1, m=256, ef_construction=16, metric="euclidean", seed=6, storage=storage, floats=floats
    )
    index = runtime.hnsw(config)
    rows = np.random.default_rng(6).normal(size=(1_500, 1)).astype(np.float32)
    index.insert_batch([f"{i}" for i in range(1_500)], rows)
    blob = index.serialize()
    graph = index_format.decode(blob)
    need = index_format.load_bytes(graph.config, len(graph.ids), int(graph.levels.sum()))
    assert need <= index_format.LOAD_EXPANSION * len(blob)
    assert runtime.hnsw_load(blob).ids() == index.ids()


def test_rejects_a_repeated_link(runtime: rv.Runtime, reference: rv.Runtime) -> None:
    """A neighbour list naming one node twice is corrupt, on every backend alike."""
    graph = index_format.decode(small_index(reference, rows=60, m=4).serialize())
    first = int(np.flatnonzero(graph.list_sizes >= 2)[0])
    at = int(graph.list_sizes[:first].sum())
    links = graph.links.copy()
    links[at + 1] = links[at]
    blob = index_format.encode(dataclasses.replace(graph, links=links))
    with pytest.raises(rv.CorruptIndexError, match="same link twice"):
        runtime.hnsw_load(blob)


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot"])
def test_refuses_overflowing_vectors(runtime: rv.Runtime, metric: Metric) -> None:
    """Components beyond 2**54 make norms and dot products overflow float32: refused at
    insert (one vector or a batch) and as a query, and the index is unchanged."""
    index = runtime.hnsw(rv.HnswConfig(dimensions=8, m=4, ef_construction=16, metric=metric, seed=3))
    index.insert("ok", np.arange(1, 9, dtype=np.float32))
    huge = np.full(8, 3e38, dtype=np.float32)
    with pytest.raises(rv.InvalidInputError, match="beyond"):
        index.insert("huge", huge)
    with pytest.raises(rv.InvalidInputError, match="beyond"):
        index.insert_batch(["a", "huge"], np.vstack([np.ones(8), huge * 0.5]))
    assert index.ids() == ["ok"]
    with pytest.raises(rv.InvalidInputError, match="beyond"):
        index.search_batch(huge[None, :], k=1)
    try:  # a query beyond the bound is refused, unless (cosine) its scores are finite anyway
        scores = index.search(huge, k=1).scores
    except rv.InvalidInputError:
        scores = []
    assert all(np.isfinite(scores))


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot"])
def test_scores_at_the_bound_are_finite_and_ordered(runtime: rv.Runtime, metric: Metric) -> None:
    rng = np.random.default_rng(5)
    d = 384
    rows = rng.choice([-MAX_COMPONENT, MAX_COMPONENT, 0.0], size=(200, d)).astype(np.float32)
    index = runtime.hnsw(rv.HnswConfig(dimensions=d, m=8, ef_construction=32, metric=metric, seed=4))
    index.insert_batch([f"r{i}" for i in range(200)], rows)
    queries = rng.choice([-MAX_COMPONENT, MAX_COMPONENT], size=(20, d)).astype(np.float32)
    _, scores = index.search_batch(queries, k=10, ef=40)
    assert np.isfinite(scores).all()
    assert (np.diff(scores, axis=1) <= 0).all()
    for query in queries[:5]:
        assert all(np.isfinite(index.search(query, k=10).scores))
    assert runtime.hnsw_load(index.serialize()).ids() == index.ids()


@pytest.mark.parametrize(
    ("metric", "row", "accepted"),
    [
        ("euclidean", [1e38, 0.0], False),
        ("dot", [3e38, -3e38], False),
        ("euclidean", [MAX_COMPONENT, -MAX_COMPONENT], True),
        ("cosine", [2.0, 0.0], False),
        ("cosine", [0.6, 0.8], True),
        ("cosine", [0.0, 0.0], True),  # a zero vector is stored as zeros
    ],
)
def test_loader_bounds_vectors(runtime: rv.Runtime, metric: Metric, row: list[float], accepted: bool) -> None:
    """Stored rows obey the insert's bound, and cosine rows are unit length (or zero)."""
    graph = linkless_graph(3, 2, 4, 0, metric)
    vectors = np.array([[0.6, 0.8], [0.8, 0.6], row], dtype=np.float32)
    blob = index_format.encode(dataclasses.replace(graph, vectors=vectors))
    if accepted:
        loaded = runtime.hnsw_load(blob)
        scores = loaded.search(np.array([0.6, 0.8], dtype=np.float32), k=3).scores  # no links: the entry only
        assert scores and np.isfinite(scores).all()
    else:
        with pytest.raises(rv.CorruptIndexError, match="unit length|beyond"):
            runtime.hnsw_load(blob)


def test_rejects_an_empty_id(runtime: rv.Runtime, reference: rv.Runtime) -> None:
    """No insert makes an empty id, and the facade refuses one as input, so an index file
    holding one (found by the loader fuzzer: it loaded, then its own ids could not filter a
    search) is corrupt, on every backend alike."""
    graph = index_format.decode(small_index(reference, rows=20, m=4).serialize())
    ids = list(graph.ids)
    ids[7] = ""
    with pytest.raises(rv.CorruptIndexError, match="empty"):
        runtime.hnsw_load(index_format.encode(dataclasses.replace(graph, ids=ids)))
