"""Property tests of the reference index: hypothesis searches for inputs that break it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ruvector_core as rv
from ruvector_core import index_format
from ruvector_core.models import MAX_COMPONENT

DIMS = 6
RUNTIME = rv.Runtime(backend="numpy")

finite = st.floats(-1e3, 1e3, width=32, allow_nan=False)
any_float = st.floats(width=32, allow_nan=True, allow_infinity=True)
matrices = hnp.arrays(np.float32, st.tuples(st.integers(1, 40), st.just(DIMS)), elements=finite)


@st.composite
def point_clouds(draw: st.DrawFn) -> np.ndarray:
    """Gaussian points of a drawn size and seed. HNSW promises nothing for adversarial
    ties: more than 2m exact copies of one vector can prune a copy's every in-link (as in
    hnswlib), so the graph-quality properties are checked on points in general position."""
    rows = draw(st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return (rng.standard_normal((rows, DIMS)) * draw(st.sampled_from([0.01, 1.0, 100.0]))).astype(np.float32)


def _index(vectors: np.ndarray, metric: str = "euclidean") -> rv.HnswIndex:
    index = RUNTIME.hnsw(rv.HnswConfig(dimensions=DIMS, m=4, ef_construction=32, metric=metric))
    index.insert_batch([f"v{i}" for i in range(len(vectors))], vectors)
    return index


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=matrices,
    bad=hnp.arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 9)), elements=any_float),
    k=st.integers(-3, 12),
)
def test_rejected_input_changes_nothing(base: np.ndarray, bad: np.ndarray, k: int) -> None:
    """Any insert or search that is refused leaves the serialized index byte-identical."""
    index = _index(base)
    before = index.serialize()
    # finite and within the bound where norms and dot products would overflow float32
    valid_rows = bad.shape[1] == DIMS and bool((np.abs(bad) <= MAX_COMPONENT).all())
    try:
        index.insert_batch([f"new{i}" for i in range(len(bad))], bad)
    except rv.InvalidInputError:
        assert not valid_rows
        assert index.serialize() == before
    else:
        assert valid_rows and len(index) == len(base) + len(bad)
    query_ok = bad.shape[1] == DIMS and bool((np.abs(bad[0]) <= MAX_COMPONENT).all())
    try:
        hits = index.search(bad[0], k=k)
    except rv.InvalidInputError:
        assert not query_ok or k <= 0
    else:
        # a finite query beyond the bound is answered only while every score stays finite
        assert np.isfinite(hits.scores).all() and hits.scores == sorted(hits.scores, reverse=True)
        query_ok = query_ok or (bad.shape[1] == DIMS and bool(np.isfinite(bad[0]).all()))
        # Only "at most k, all distinct": with more than 2m exact copies of one vector (which
        # hypothesis loves to draw) HNSW can prune a copy's every in-link, as hnswlib does;
        # the exact count is checked on points in general position below.
        assert query_ok and k > 0 and 1 <= len(hits) <= min(k, len(index))
        assert len({h.id for h in hits}) == len(hits)


@settings(max_examples=40, deadline=None)
@given(base=point_clouds(), metric=st.sampled_from(["cosine", "euclidean", "dot"]), data=st.data())
def test_exhaustive_beam_is_exact(base: np.ndarray, metric: str, data: st.DataObject) -> None:
    """With a beam wider than the index, a search walks every node it can reach on layer
    0 and returns the exact top k of them (ties aside).

    "Every node" is not promised: the neighbour-selection heuristic can prune every
    in-link of a node, even for points in general position (hnswlib's graphs have such
    nodes too; hypothesis found an 18-point cloud with one). So the reachable set is read
    off the search itself (k = everything) and checked against the graph's own links: no
    layer-0 link may lead from a node the search reached to one it did not."""
    index = _index(base, metric)
    query = data.draw(hnp.arrays(np.float32, DIMS, elements=finite))
    k = data.draw(st.integers(1, len(base)))
    if metric == "cosine" and not np.linalg.norm(query):
        query = np.ones(DIMS, dtype=np.float32)  # cosine to a zero query is undefined
    beam = len(base) + 10
    reached = {int(h.id[1:]) for h in index.search(query, k=len(base), ef=beam)}
    for node, links in enumerate(_layer0_links(index_format.decode(index.serialize()))):
        if node in reached:
            assert reached.issuperset(links.tolist()), f"v{node} links to a node the exhaustive search missed"
    hits = index.search(query, k=k, ef=beam)
    rows = sorted(reached)
    ops = RUNTIME.vector_ops
    distances = ops.batch_distance(query, base[rows], metric)
    truth = 1 - distances if metric == "cosine" else -distances
    kth = np.sort(truth)[::-1][min(k, len(rows)) - 1]
    assert len(hits) == min(k, len(rows))
    assert all(int(h.id[1:]) in reached and h.score >= kth - 1e-3 * max(1.0, abs(kth)) for h in hits)


def _layer0_links(graph: index_format.GraphData) -> list[np.ndarray]:
    """Each node's layer-0 neighbour list (lists are stored node-major, then by layer)."""
    ends = np.cumsum(graph.list_sizes)
    first_list = np.concatenate([[0], np.cumsum(graph.levels.astype(np.int64) + 1)[:-1]])
    return [graph.links[ends[i] - graph.list_sizes[i] : ends[i]] for i in first_list]


@settings(max_examples=40, deadline=None)
@given(base=point_clouds(), deletions=st.data())
def test_deleted_ids_never_return(base: np.ndarray, deletions: st.DataObject) -> None:
    index = _index(base)
    ids = [f"v{i}" for i in range(len(base))]
    gone = set(deletions.draw(st.lists(st.sampled_from(ids), unique=True)))
    for id_ in gone:
        assert index.delete(id_)
    live = len(base) - len(gone)
    for query in base[:5]:
        hits = index.search(query, k=10)
        assert len(hits) == min(10, live) and not {h.id for h in hits} & gone
    assert rv.Runtime(backend="numpy").hnsw_load(index.serialize()).ids() == index.ids()


def test_delete_unknown_id_returns_false() -> None:
    index = _index(np.eye(DIMS, dtype=np.float32))
    before = index.serialize()
    assert index.delete("nope") is False
    assert index.serialize() == before
    with pytest.raises(rv.InvalidInputError):
        index.delete(3)  # type: ignore[arg-type]
