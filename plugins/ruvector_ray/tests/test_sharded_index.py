"""The sharded index against a single index and exact brute force on real embeddings, and
its bookkeeping: routing, upserts, deletes, filters, refused input."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np
import pytest
import ray

import ruvector_core as rv
from ruvector_conformance.data import corpus, recall
from ruvector_ray import ShardedIndex
from ruvector_ray._merge import merge_hits
from ruvector_ray._routing import shard_of

CONFIG = rv.HnswConfig(dimensions=384, seed=3)
SHARDS = 3


@pytest.fixture(scope="module")
def sharded() -> Iterator[ShardedIndex]:
    """The conformance base in three shards; read-only for the tests that use it."""
    data = corpus()
    index = ShardedIndex.create(CONFIG, SHARDS)
    index.insert_batch(data.ids, data.base)
    yield index
    index.close()


@pytest.fixture(scope="module")
def small_index() -> Iterator[ShardedIndex]:
    index = ShardedIndex.create(CONFIG.model_copy(update={"dimensions": 8}), 2)
    yield index
    index.close()


@pytest.fixture
def small(small_index: ShardedIndex) -> Iterator[ShardedIndex]:
    """Two shards that a test may change: emptied after each test (starting actors costs seconds)."""
    yield small_index
    for id_ in small_index.ids():
        small_index.delete(id_)


def test_recall_matches_a_single_index_and_exact_search(sharded: ShardedIndex) -> None:
    data = corpus()
    truth = data.exact_top_k(10)
    single = rv.Runtime.initialize().hnsw(CONFIG)
    single.insert_batch(data.ids, data.base)
    sharded_ids, _ = sharded.search_batch(data.queries, 10)
    single_ids, _ = single.search_batch(data.queries, 10)
    sharded_recall = recall(sharded_ids, truth, data.ids)
    single_recall = recall(single_ids, truth, data.ids)
    assert sharded_recall >= 0.95
    assert sharded_recall >= single_recall - 0.005, (sharded_recall, single_recall)


def test_merged_top_k_is_the_exact_top_k_of_the_shards_candidates(sharded: ShardedIndex) -> None:
    queries = corpus().queries[:20]
    per_shard = ray.get([a.search_batch.remote(queries, 10, None, None) for a in sharded.shard_actors()])
    candidate_ids = np.concatenate([ids for _, (ids, _) in per_shard], axis=1)
    candidate_scores = np.concatenate([scores for _, (_, scores) in per_shard], axis=1)
    merged_ids, merged_scores = sharded.search_batch(queries, 10)
    for row in range(len(queries)):
        best = np.argsort(-candidate_scores[row], kind="stable")[:10]
        assert list(merged_ids[row]) == list(candidate_ids[row][best])
        np.testing.assert_array_equal(merged_scores[row], candidate_scores[row][best])
    for row, query in enumerate(queries):  # search answers as search_batch does
        assert sharded.search(query, 10).ids == list(merged_ids[row])


def test_a_search_goes_through_a_compiled_graph_and_answers_as_plain_calls(sharded: ShardedIndex) -> None:
    queries = corpus().queries[:30]
    for query in queries:
        hits = sharded.search(query, 10)
        plain = ray.get([a.search.remote(query, 10, None, None) for a in sharded.shard_actors()])
        assert sharded.compiled_search
        assert [(h.id, h.score) for h in hits] == merge_hits([answer for _, answer in plain], 10)


def test_with_compiled_graphs_off_a_search_makes_plain_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUVECTOR_RAY_COMPILED_GRAPH", "0")
    data = corpus()
    index = ShardedIndex.create(CONFIG, 2)
    try:
        index.insert_batch(data.ids[:300], data.base[:300])
        ids, _ = index.search_batch(data.queries[:10], 10)
        for row, query in enumerate(data.queries[:10]):
            assert index.search(query, 10).ids == list(ids[row])
        assert not index.compiled_search
    finally:
        index.close()


def test_results_have_the_types_of_hnsw_index(sharded: ShardedIndex, small: ShardedIndex) -> None:
    query = corpus().queries[0]
    hits = sharded.search(query, 5)
    single = rv.Runtime.initialize().hnsw(CONFIG)
    single.insert_batch(corpus().ids, corpus().base)
    assert type(hits) is type(single.search(query, 5)) is rv.SearchHits
    assert all(type(h) is rv.SearchResult for h in hits)
    ids, scores = sharded.search_batch(corpus().queries[:3], 4)
    expected_ids, expected_scores = single.search_batch(corpus().queries[:3], 4)
    assert (ids.dtype, ids.shape, scores.dtype, scores.shape) == (
        expected_ids.dtype,
        expected_ids.shape,
        expected_scores.dtype,
        expected_scores.shape,
    )
    assert type(sharded.stats()) is rv.IndexStats
    small.insert_batch(["a", "b"], np.eye(8, dtype=np.float32)[:2])  # fewer rows than k: padded as HnswIndex pads
    ids, scores = small.search_batch(np.eye(8, dtype=np.float32)[:1], 4)
    assert set(ids[0, :2]) == {"a", "b"} and list(ids[0, 2:]) == [None, None]
    assert scores.dtype == np.float32 and np.isneginf(scores[0, 2:]).all()


def test_rows_live_on_the_shard_their_id_hashes_to(sharded: ShardedIndex) -> None:
    data = corpus()
    per_shard = [ids for _, ids in ray.get([a.ids.remote() for a in sharded.shard_actors()])]
    for shard, ids in enumerate(per_shard):
        assert ids and all(shard_of(i, SHARDS) == shard for i in ids)
    assert sum(len(ids) for ids in per_shard) == len(sharded) == len(data.ids)
    assert sorted(sharded.ids()) == sorted(data.ids)
    stats = sharded.stats()
    assert stats.count == len(data.ids) and stats.nodes_per_level[0] == len(data.ids)
    assert [s.count for s in sharded.shard_stats()] == [len(ids) for ids in per_shard]


def test_shard_of_is_stable_across_processes() -> None:
    """A blake2b value, not Python's salted hash(): the same in any process, on any node."""
    digest = hashlib.blake2b(b"doc-0", digest_size=8).digest()
    assert shard_of("doc-0", 7) == int.from_bytes(digest, "little") % 7
    remote = ray.get(ray.remote(lambda ids: [shard_of(i, 7) for i in ids]).remote([f"doc-{i}" for i in range(50)]))
    assert remote == [shard_of(f"doc-{i}", 7) for i in range(50)]


def test_an_upsert_is_idempotent_and_replaces_the_row(small: ShardedIndex) -> None:
    rng = np.random.default_rng(0)
    ids = [f"r{i}" for i in range(40)]
    small.insert_batch(ids, rng.normal(size=(40, 8)))
    small.insert_batch(ids, rng.normal(size=(40, 8)))  # a retried task writes again
    assert len(small) == 40
    target = np.arange(8, dtype=np.float32) + 1.0
    small.insert("r7", target)
    assert len(small) == 40
    top = small.search(target, 1)[0]
    assert top.id == "r7" and top.score == pytest.approx(1.0, abs=1e-5)


def test_delete_removes_from_the_owning_shard(small: ShardedIndex) -> None:
    small.insert_batch(["x", "y", "z"], np.eye(8, dtype=np.float32)[:3])
    assert small.delete("y") is True
    assert small.delete("y") is False
    assert "y" not in small and "x" in small
    assert sorted(small.ids()) == ["x", "z"] and len(small) == 2
    assert "y" not in small.search(np.eye(8, dtype=np.float32)[1], 3).ids


def test_allow_is_pushed_to_the_shards(sharded: ShardedIndex) -> None:
    data = corpus()
    allowed_rows = np.arange(0, len(data.ids), 7)
    allowed = [data.ids[r] for r in allowed_rows]
    prepared = sharded.allowlist(allowed)
    truth = data.exact_top_k(10, base=data.base[allowed_rows])[:20]
    ids, _ = sharded.search_batch(data.queries[:20], 10, allow=prepared)
    assert set(ids.ravel()) <= set(allowed)
    assert recall(ids, truth, allowed) >= 0.95
    hits = sharded.search(data.queries[0], 10, allow=allowed)  # a plain list works too
    assert set(hits.ids) <= set(allowed) and len(hits) == 10
    assert sharded.search(data.queries[0], 10, allow=["not-there"]).ids == []
    assert sharded.search(data.queries[0], 3, allow=[data.ids[5], data.ids[9]]).ids == sorted(
        [data.ids[5], data.ids[9]], key=lambda i: -float(data.base[int(i[4:])] @ data.queries[0])
    )


def test_bad_input_is_refused_and_changes_nothing(small: ShardedIndex) -> None:
    small.insert_batch(["a", "b"], np.eye(8, dtype=np.float32)[:2])
    with pytest.raises(rv.DimensionMismatchError):
        small.insert_batch(["c", "d"], np.ones((2, 9)))
    with pytest.raises(rv.InvalidInputError):
        small.insert_batch(["c", "c"], np.ones((2, 8)))
    bad = np.ones((3, 8))
    bad[2, 1] = np.nan
    with pytest.raises(rv.InvalidInputError):
        small.insert_batch(["c", "d", "e"], bad)  # rows c and d would go to a shard that accepts them
    with pytest.raises(rv.InvalidInputError):
        small.search(np.full(8, np.nan), 3)
    with pytest.raises(rv.InvalidInputError):
        small.search(np.ones(8), 0)
    with pytest.raises(rv.InvalidInputError):
        small.search(np.ones(8), 3, allow="a")
    assert sorted(small.ids()) == ["a", "b"]
    with pytest.raises(rv.InvalidInputError):
        ShardedIndex.create(CONFIG, 0)
    with pytest.raises(rv.InvalidInputError):
        small.save()  # no path


def test_a_closed_index_says_so() -> None:
    index = ShardedIndex.create(CONFIG.model_copy(update={"dimensions": 4}), 1)
    index.close()
    with pytest.raises(rv.RuvectorError, match="closed"):
        index.search(np.ones(4), 1)
    with pytest.raises(rv.RuvectorError, match="closed"):
        index.insert("a", np.ones(4))
