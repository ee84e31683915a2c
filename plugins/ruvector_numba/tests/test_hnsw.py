"""The compiled HNSW beyond the conformance suite: step-for-step equality with the
reference, the parallel and chunked paths, the visited-epoch wrap, concurrency, and
filtered search (equality with the reference where both choose the same path, masks older
than the graph, the scan fallback of a walk that cannot reach ``k`` allowed nodes)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import ruvector_core as rv
from ruvector_conformance.data import corpus
from ruvector_core.models import FloatsPlacement, StorageKind
from ruvector_numba import _hnsw_kernels as K
from ruvector_numba import hnsw as numba_hnsw

NUMBA = rv.Runtime(backend="numba")
NUMPY = rv.Runtime(backend="numpy")


def _small_integer_data(seed: int, rows: int = 400, d: int = 16) -> np.ndarray:
    """Small integers: every dot product and squared distance is exact in float32 whatever
    the summation order, so two correct implementations must build the same graph, ties
    and all."""
    return np.random.default_rng(seed).integers(-3, 4, size=(rows, d)).astype(np.float32)


def _history(
    runtime: rv.Runtime,
    metric: str,
    data: np.ndarray,
    storage: StorageKind = "float32",
    floats: FloatsPlacement = "resident",
) -> rv.HnswIndex:
    ids = [f"v{i}" for i in range(len(data))]
    config = rv.HnswConfig(
        dimensions=data.shape[1], m=4, ef_construction=20, metric=metric, seed=5, storage=storage, floats=floats
    )
    index = runtime.hnsw(config)
    index.insert_batch(ids[:300], data[:300])
    for id_ in ids[:60:3]:
        index.delete(id_)
    index.insert_batch(ids[280:], data[280:][::-1].copy())  # 20 replacements, 100 new
    for i in range(5):
        index.insert(f"single-{i}", data[i])
    return index


@pytest.mark.parametrize("metric", ["euclidean", "dot"])
def test_same_graph_as_the_reference(metric: str) -> None:
    data = _small_integer_data(3)
    mine, reference = _history(NUMBA, metric, data), _history(NUMPY, metric, data)
    assert mine.serialize() == reference.serialize(), "graph differs from the reference's"
    for k, ef in ((10, 16), (25, 50)):
        a_ids, a_scores = mine.search_batch(data[:60], k=k, ef=ef)
        b_ids, b_scores = reference.search_batch(data[:60], k=k, ef=ef)
        assert (a_ids == b_ids).all() and np.array_equal(a_scores, b_scores)


@pytest.mark.parametrize("floats", ["resident", "none"])
@pytest.mark.parametrize("metric", ["euclidean", "dot", "cosine"])
def test_same_binary_graph_as_the_reference(metric: str, floats: FloatsPlacement) -> None:
    """Binary codes are walked and linked on Hamming distances, which are exact integers:
    the graph, and with resident floats over small integers the results too, are the
    reference's, ties and all."""
    data = _small_integer_data(6, d=70)  # 70 dimensions: two words, the last one padded
    mine = _history(NUMBA, metric, data, "binary", floats)
    reference = _history(NUMPY, metric, data, "binary", floats)
    assert mine.serialize() == reference.serialize(), "graph differs from the reference's"
    for k, ef in ((10, 16), (25, 50)):
        a_ids, a_scores = mine.search_batch(data[:60], k=k, ef=ef)
        b_ids, b_scores = reference.search_batch(data[:60], k=k, ef=ef)
        if floats == "resident" and metric != "cosine":
            assert (a_ids == b_ids).all() and np.array_equal(a_scores, b_scores)
        else:  # approximate or normalised scores: equal up to float32 rounding
            assert np.mean(a_ids == b_ids) >= 0.99 and np.allclose(a_scores, b_scores, atol=1e-4)


@pytest.mark.parametrize("floats", ["resident", "none"])
def test_int8_matches_the_reference_within_rounding(floats: FloatsPlacement) -> None:
    """int8 distances are float arithmetic summed in another order, so the graphs may part
    on near ties; the same bytes still give the same answers."""
    data = corpus()
    config = rv.HnswConfig(dimensions=384, m=8, ef_construction=40, seed=7, storage="int8", floats=floats)
    built = NUMPY.hnsw(config)
    built.insert_batch(data.ids[:600], data.base[:600])
    blob = built.serialize()
    mine = NUMBA.hnsw_load(blob)
    assert mine.serialize() == blob
    a_ids, a_scores = mine.search_batch(data.queries, k=10, ef=40)
    b_ids, b_scores = built.search_batch(data.queries, k=10, ef=40)
    assert np.mean(a_ids == b_ids) >= 0.99 and np.allclose(a_scores, b_scores, atol=1e-4)


@pytest.mark.parametrize("metric", ["euclidean", "dot"])
def test_loads_the_reference_and_continues_identically(metric: str) -> None:
    data = _small_integer_data(4)
    blob = _history(NUMPY, metric, data).serialize()
    mine, reference = NUMBA.hnsw_load(blob), NUMPY.hnsw_load(blob)
    assert mine.backend == "numba" and mine.serialize() == blob
    more = np.random.default_rng(9).integers(-3, 4, size=(50, data.shape[1])).astype(np.float32)
    for index in (mine, reference):
        index.insert_batch([f"w{i}" for i in range(50)], more)
    assert mine.serialize() == reference.serialize(), "inserts after a load diverge from the reference"


def test_chunked_and_one_by_one_inserts_build_the_same_graph(monkeypatch: pytest.MonkeyPatch) -> None:
    data = corpus()
    config = rv.HnswConfig(dimensions=384, m=8, ef_construction=40, seed=7)
    whole = NUMBA.hnsw(config)
    whole.insert_batch(data.ids[:500], data.base[:500])
    monkeypatch.setattr(numba_hnsw, "INSERT_CHUNK", 37)
    chunked = NUMBA.hnsw(config)
    chunked.insert_batch(data.ids[:500], data.base[:500])
    single = NUMBA.hnsw(config)  # grows its arrays many times on the way
    for id_, row in zip(data.ids[:500], data.base[:500], strict=True):
        single.insert(id_, row)
    assert whole.serialize() == chunked.serialize() == single.serialize()


def test_parallel_batch_search_matches_single_searches() -> None:
    data = corpus()
    index = NUMBA.hnsw(rv.HnswConfig(dimensions=384, m=12, ef_construction=60, seed=3))
    index.insert_batch(data.ids[:1500], data.base[:1500])
    for id_ in data.ids[:1500:4]:
        index.delete(id_)
    queries = data.queries[:100]
    assert len(queries) >= numba_hnsw.PARALLEL_MIN_QUERIES
    ids, scores = index.search_batch(queries, k=15, ef=40)
    for row, query in enumerate(queries):
        hits = index.search(query, k=15, ef=40)
        assert list(ids[row]) == [h.id for h in hits]
        assert np.array_equal(scores[row], np.array([h.score for h in hits], dtype=np.float32))


def test_batch_search_pads_when_k_exceeds_the_live_count() -> None:
    data = corpus()
    index = NUMBA.hnsw(rv.HnswConfig(dimensions=384, m=4, ef_construction=16))
    index.insert_batch(data.ids[:6], data.base[:6])
    index.delete(data.ids[0])
    ids, scores = index.search_batch(data.queries[:8], k=9)
    assert ids.shape == (8, 9) and all(list(r[5:]) == [None] * 4 for r in ids)
    assert np.all(np.isneginf(scores[:, 5:])) and np.all(np.isfinite(scores[:, :5]))


def test_visited_epoch_wraps_around() -> None:
    """When the epoch counter reaches its limit the markers are cleared, not misread."""
    data = corpus()
    index = NUMBA.hnsw(rv.HnswConfig(dimensions=384, m=8, ef_construction=32, seed=1))
    index.insert_batch(data.ids[:400], data.base[:400])
    expected = [[h.id for h in index.search(q, k=10)] for q in data.queries[:5]]
    graph = index._graph
    visited, epoch = graph._scratch(graph._n)
    visited[:] = 1  # stale markers that would read as "visited" in the first epoch after the wrap
    epoch[0] = K.EPOCH_LIMIT
    assert [[h.id for h in index.search(q, k=10)] for q in data.queries[:5]] == expected
    assert epoch[0] == 5


def test_stats_match_the_reference_layout() -> None:
    data = corpus()
    config = rv.HnswConfig(dimensions=384, m=8, ef_construction=32, seed=1)
    mine, reference = NUMBA.hnsw(config), NUMPY.hnsw(config)
    for index in (mine, reference):
        index.insert_batch(data.ids[:300], data.base[:300])
        index.delete(data.ids[5])
        index.insert(data.ids[6], data.base[7])
    a, b = mine.stats(), reference.stats()
    assert a.backend == "numba" and a.memory_bytes > 300 * 384 * 4
    assert a.model_dump(exclude={"backend", "memory_bytes"}) == b.model_dump(exclude={"backend", "memory_bytes"})
    empty = NUMBA.hnsw(config).stats()
    assert empty.count == 0 and empty.max_level == -1 and empty.nodes_per_level == []


def test_batch_searches_from_many_threads_while_inserting() -> None:
    """Parallel kernels launched from several Python threads at once (which numba's
    workqueue layer would abort on) while a writer inserts: no crash, no torn rows."""
    data = corpus()
    index = NUMBA.hnsw(rv.HnswConfig(dimensions=384, m=8, ef_construction=40, seed=2))
    index.insert_batch(data.ids[:300], data.base[:300])
    failures: list[str] = []
    done = threading.Event()

    def reader() -> None:
        try:
            while not done.is_set():
                ids, _ = index.search_batch(data.queries[:32], k=10, ef=30)
                for row in ids:
                    if None in row or len(set(row)) != 10:
                        failures.append(f"torn row {row}")
        except Exception as exc:  # noqa: BLE001 - surfaced below
            failures.append(repr(exc))

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for start in range(300, 1300, 100):
            index.insert_batch(data.ids[start : start + 100], data.base[start : start + 100])
            index.delete(data.ids[start - 250])
    finally:
        done.set()
        for t in threads:
            t.join()
    assert not failures, failures[:3]
    assert len(index) == 1300 - 10


def test_searches_run_while_another_thread_holds_the_gil_free_kernel() -> None:
    """Readers share the lock: two searches can be inside the kernel at the same time."""
    data = corpus()
    index = NUMBA.hnsw(rv.HnswConfig(dimensions=384, m=8, ef_construction=40))
    index.insert_batch(data.ids[:200], data.base[:200])
    lock = index._graph._lock
    lock.acquire_read()
    try:
        hits = index.search(data.queries[0], k=3)  # a second reader is admitted at once
    finally:
        lock.release_read()
    assert len(hits) == 3


# -- filtered search ------------------------------------------------------------------

K_HITS = 10


def _walks(allowed: int, beam: int, nodes: int) -> bool:
    """Whether the kernel walks (rather than scans) for this many allowed nodes."""
    return allowed**2 > K.WALK_COST * beam * nodes


def _exact(query: np.ndarray, rows: list[int], k: int) -> list[str]:
    """The k nearest of corpus ``rows`` by cosine, best first (ties: the earlier row)."""
    data = corpus()
    sims = data.base[rows] @ (query / np.linalg.norm(query))
    return [data.ids[rows[i]] for i in np.argsort(-sims, kind="stable")[:k]]


@pytest.mark.parametrize("metric", ["euclidean", "dot"])
def test_same_filtered_results_as_the_reference_on_the_same_path(metric: str) -> None:
    """Few allowed: both scan; most allowed: both walk. Either way, on data whose arithmetic
    is exact, the hits and scores are the reference's, ties included."""
    data = _small_integer_data(3)
    mine, reference = _history(NUMBA, metric, data), _history(NUMPY, metric, data)
    live = sorted(mine.ids())
    nodes = mine._graph._n
    shuffled = [live[i] for i in np.random.default_rng(1).permutation(len(live))]
    few, most = shuffled[:40], shuffled[: int(0.9 * len(live))]
    beam = 16
    assert not _walks(len(few), beam, nodes) and len(few) <= 4 * beam  # both scan
    assert _walks(len(most), beam, nodes) and len(most) > 4 * beam  # both walk
    for allow in (few, most):
        a_ids, a_scores = mine.search_batch(data[:60], k=K_HITS, ef=beam, allow=allow)
        b_ids, b_scores = reference.search_batch(data[:60], k=K_HITS, ef=beam, allow=allow)
        assert (a_ids == b_ids).all() and np.array_equal(a_scores, b_scores)


@pytest.mark.parametrize("allowed", [50, 700])  # a scan and a walk
def test_a_mask_older_than_the_graph_lets_no_later_node_through(allowed: int) -> None:
    """A mask made before inserts does not cover the new nodes, and an allowed id replaced
    since is neither found at its old node (a tombstone) nor at its new one (past the mask)."""
    data = corpus()
    index = NUMBA.hnsw(rv.HnswConfig(dimensions=384, m=8, ef_construction=40, seed=4))
    index.insert_batch(data.ids[:1000], data.base[:1000])
    graph = index._graph
    mask = graph.allow_mask(data.ids[:allowed])
    index.insert_batch(data.ids[1000:1200], data.base[1000:1200])
    index.insert_batch(data.ids[:10], data.base[1200:1210])  # replaces ten allowed ids
    assert _walks(allowed - 10, 16, graph._n) == (allowed == 700)
    still = set(data.ids[10:allowed])
    for query in data.base[1000:1210:7]:  # each next to a node the mask does not cover
        hits = graph.search(query, K_HITS, 16, mask)
        assert len(hits) == K_HITS and {i for i, _ in hits} <= still
    assert graph.search(data.base[0], K_HITS, 16, mask[:0]) == []  # an empty mask allows nothing


def test_a_walk_that_reaches_too_few_allowed_nodes_falls_back_to_a_scan() -> None:
    """With every link cut the walk finds at most its entry point; the search still returns
    exactly k hits, the exact nearest allowed ones, one query at a time and in a batch."""
    data = corpus()
    index = NUMBA.hnsw(rv.HnswConfig(dimensions=384, m=8, ef_construction=40, seed=4))
    index.insert_batch(data.ids[:1000], data.base[:1000])
    graph = index._graph
    graph._links0[:, 0] = 0
    graph._upper[:, 0] = 0
    rows = list(range(100, 1000))
    assert _walks(len(rows), 16, graph._n)
    queries = data.queries[:8]
    ids, _ = index.search_batch(queries, k=K_HITS, ef=16, allow=[data.ids[r] for r in rows])
    for row, query in enumerate(queries):
        exact = _exact(query, rows, K_HITS)
        assert index.search(query, k=K_HITS, ef=16, allow=[data.ids[r] for r in rows]).ids == exact
        assert list(ids[row]) == exact


@pytest.mark.parametrize("fraction", [0.7, 0.02])  # a walk and a scan
def test_parallel_filtered_batch_matches_single_searches(fraction: float) -> None:
    data = corpus()
    index = NUMBA.hnsw(rv.HnswConfig(dimensions=384, m=12, ef_construction=60, seed=3))
    index.insert_batch(data.ids[:1500], data.base[:1500])
    for id_ in data.ids[:1500:4]:
        index.delete(id_)
    allowed = data.ids[: int(1500 * fraction)]
    live_allowed = [i for i in allowed if i in index]
    assert _walks(len(live_allowed), 40, 1500) == (fraction == 0.7)
    queries = data.queries[:100]
    assert len(queries) >= numba_hnsw.PARALLEL_MIN_QUERIES
    ids, scores = index.search_batch(queries, k=15, ef=40, allow=allowed)
    for row, query in enumerate(queries):
        hits = index.search(query, k=15, ef=40, allow=allowed)
        assert len(hits) == 15 and set(hits.ids) <= set(live_allowed)
        assert list(ids[row]) == hits.ids
        assert np.array_equal(scores[row], np.array(hits.scores, dtype=np.float32))


def test_a_uint8_mask_answers_as_the_bool_mask() -> None:
    data = corpus()
    index = NUMBA.hnsw(rv.HnswConfig(dimensions=384, m=8, ef_construction=40, seed=4))
    index.insert_batch(data.ids[:500], data.base[:500])
    graph = index._graph
    for allowed in (20, 400):
        mask = graph.allow_mask(data.ids[:allowed])
        for query in data.queries[:5]:
            assert graph.search(query, K_HITS, 16, mask.astype(np.uint8)) == graph.search(query, K_HITS, 16, mask)


def test_an_empty_graph_answers_a_filtered_search_with_nothing() -> None:
    graph = NUMBA.hnsw(rv.HnswConfig(dimensions=384))._graph
    mask = graph.allow_mask(["a"])
    assert mask.shape == (0,) and mask.dtype == np.bool_
    assert graph.search(corpus().queries[0], K_HITS, 16, mask) == []
    ids, scores = graph.search_batch(corpus().queries[:8], K_HITS, 16, mask)
    assert all(i is None for i in ids.ravel()) and np.all(np.isneginf(scores))
