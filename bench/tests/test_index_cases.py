"""The HNSW cases beyond the sweep, on tiny indexes: the graph behind the facade, indexes
over codes, a batch search of every query in one call, and inserting one vector.
What they return is checked, never how fast."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from ruvector_bench import dataset
from ruvector_bench.engines import (
    CODE_PEERS,
    STORAGE_VARIANTS,
    GraphEngine,
    IndexEngine,
    RuvectorEngine,
    engine_named,
    installed_peers,
)
from ruvector_bench.index import EngineRun, time_batches, time_inserts
from ruvector_bench.recall import recall_at_k
from ruvector_bench.timing import Stat

K, EF = 5, 32


@pytest.fixture(scope="module")
def split() -> dataset.Split:
    vectors = np.random.default_rng(7).standard_normal((230, 16)).astype(np.float32)
    return dataset.split(vectors, queries=30, size=200, k=K)


def _engines() -> list[Callable[[], IndexEngine]]:
    peers, _ = installed_peers()
    code_peers, _ = installed_peers(CODE_PEERS)
    ours: list[Callable[[], IndexEngine]] = [
        lambda: RuvectorEngine("numpy"),
        lambda: RuvectorEngine("numpy", storage="int8"),
        lambda: RuvectorEngine("numpy", storage="binary", floats="none"),
    ]
    return ours + [lambda peer=peer: peer for peer in [*peers, *code_peers]]


@pytest.fixture(params=_engines(), ids=lambda make: make().name)
def engine(request: pytest.FixtureRequest, split: dataset.Split) -> IndexEngine:
    made: IndexEngine = request.param()
    made.build(split.base, 1)
    return made


def test_a_batch_search_finds_what_one_query_at_a_time_finds(engine: IndexEngine, split: dataset.Split) -> None:
    search = engine.batch_searcher(EF, K, threads=2)
    assert search is not None
    batch = engine.batch_rows(search(split.queries))
    single = engine.searcher(EF, K)
    assert batch == [engine.rows(single(query)) for query in split.queries]


def test_an_inserted_vector_is_found_under_its_new_row(engine: IndexEngine, split: dataset.Split) -> None:
    insert = engine.inserter(extra=2)
    if insert is None:
        assert not engine.swept  # only exact search has no index to grow
        return
    new_row = len(split.base)
    vector = split.queries[0] * 3.0  # not in the base; its own nearest neighbour
    insert(new_row, vector)
    assert engine.rows(engine.searcher(EF, K)(vector))[0] == new_row


def test_the_graph_behind_the_facade_answers_as_the_facade_does(split: dataset.Split) -> None:
    owner = RuvectorEngine("numpy")
    owner.build(split.base, 1)
    graph = GraphEngine(owner)
    assert (graph.name, graph.variant_of, graph.kind) == ("numpy (graph)", "numpy", "ruvector")
    api, raw = owner.searcher(EF, K), graph.searcher(EF, K)
    for query in split.queries:
        assert graph.rows(raw(query)) == owner.rows(api(query))
    assert graph.batch_searcher(EF, K, 1) is None and graph.inserter(1) is None


@pytest.mark.parametrize(("storage", "floats"), STORAGE_VARIANTS)
def test_an_index_over_codes_is_named_rebuilt_by_its_name_and_finds_neighbours(
    split: dataset.Split, storage: str, floats: str
) -> None:
    engine = engine_named(f"numpy {storage}" if floats == "resident" else f"numpy {storage} no-floats")
    assert isinstance(engine, RuvectorEngine)
    assert (engine.backend, engine.storage, engine.floats) == ("numpy", storage, floats)
    engine.build(split.base, 1)
    assert (engine.index.config.storage, engine.index.config.floats) == (storage, floats)
    found = [engine.rows(engine.searcher(EF, K)(query)) for query in split.queries]
    assert all(len(rows) == K for rows in found)
    if storage == "int8":  # 16-d codes keep the order well; sign bits of 16 dimensions do not
        assert recall_at_k(found, split.truth) >= 0.9


def test_batches_are_timed_per_query_with_their_recall(split: dataset.Split) -> None:
    engine = RuvectorEngine("numpy")
    engine.build(split.base, 1)
    broken = _Broken()
    figures, errors = time_batches([EngineRun(engine), EngineRun(broken)], split, EF, threads=1, repeats=3)
    assert list(figures) == ["numpy"] and errors == {"broken": "RuntimeError: no batch today"}
    figure = figures["numpy"]
    assert figure.per_query.n == 3 and figure.per_query.median > 0
    ids, _ = engine.index.search_batch(split.queries, k=K, ef=EF)
    assert figure.recall == recall_at_k([[int(i) for i in row] for row in ids], split.truth)


def test_inserts_add_one_new_row_per_sample(split: dataset.Split) -> None:
    engine = RuvectorEngine("numpy")
    engine.build(split.base, 1)
    stats, errors = time_inserts([EngineRun(engine), EngineRun(_Broken())], split.queries, len(split.base), 4)
    assert stats["numpy"].n == 4 and errors == {"broken": "RuntimeError: no insert today"}
    assert len(engine.index) == len(split.base) + 5  # the warm-up insert and four timed ones
    assert str(len(split.base) + 4) in engine.index


def test_a_stat_scales_every_summary_but_the_count() -> None:
    stat = Stat.of([2.0, 4.0, 6.0]).scaled(0.5)
    assert (stat.median, stat.q1, stat.q3, stat.min, stat.max, stat.n) == (2.0, 1.5, 2.5, 1.0, 3.0, 3)


class _Broken(IndexEngine):
    name = "broken"
    kind = "peer"

    def batch_searcher(self, ef: int, k: int, threads: int) -> Callable[[np.ndarray], object]:
        def search(queries: np.ndarray) -> object:
            raise RuntimeError("no batch today")

        return search

    def inserter(self, extra: int) -> Callable[[int, np.ndarray], object]:
        def insert(row: int, vector: np.ndarray) -> object:
            raise RuntimeError("no insert today")

        return insert
