"""Index engines under test: every installed ruvector HNSW backend and the peers.

Each engine builds a fresh index from a base matrix (row ``i`` gets id/label ``i``) with
M=16 and ef_construction=100 on cosine similarity, and hands out functions the caller
times: a one-query search for a given ``ef`` (one Python call per query, one thread), a
search of many queries in one call (on the run's threads), and the insert of one more
vector. Converting raw results to base rows happens outside the timed calls.

A variant looks at a ruvector backend from another side, without plugin code: its graph
(the backend object behind ``rt.hnsw()``'s facade, so the difference is what the public
API costs per call). A ruvector engine may also store int8 or binary codes
(``HnswConfig.storage``), measured beside the peers that store codes: FAISS's
``IndexHNSWSQ`` and USearch's i8 and b1 indexes.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from typing import Any

import numpy as np

from ruvector_core.hnsw_index import HnswIndex
from ruvector_core.models import FloatsPlacement, HnswConfig, StorageKind
from ruvector_core.runtime import Runtime

from .results import Kind

M = 16
EF_CONSTRUCTION = 100

Search = Callable[[np.ndarray], Any]  # one query, or a matrix of queries for a batch search
Insert = Callable[[int, np.ndarray], object]  # (new row id, vector)


def package_version(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


class IndexEngine:
    name: str
    kind: Kind
    version: str | None = None
    swept = True  # False for exact search: one point, no ef
    variant_of: str | None = None  # the engine this one looks at from another side

    def build(self, base: np.ndarray, threads: int) -> None:
        """A fresh index of ``base``; ``threads`` for engines that take a count per call
        (ruvector's backends size their pools from the environment, see ``threadlimits``)."""
        raise NotImplementedError

    def searcher(self, ef: int, k: int) -> Search:
        raise NotImplementedError

    def rows(self, raw: Any) -> list[int]:
        raise NotImplementedError

    def batch_searcher(self, ef: int, k: int, threads: int) -> Search | None:
        """All queries in one call; None where the engine has no such call."""
        return None

    def batch_rows(self, raw: Any) -> list[list[int]]:
        raise NotImplementedError

    def inserter(self, extra: int) -> Insert | None:
        """Adds one vector per call, with room made beforehand for ``extra`` of them; None
        where the engine cannot grow."""
        return None

    def reported_bytes(self) -> int | None:
        """The built index's own account of its memory, where it gives one."""
        return None


class RuvectorEngine(IndexEngine):
    kind = "ruvector"

    def __init__(
        self,
        backend: str,
        runtime: Runtime | None = None,
        storage: StorageKind = "float32",
        floats: FloatsPlacement = "resident",
    ) -> None:
        self.name = storage_engine_name(backend, storage, floats)
        self.runtime = runtime or Runtime(backends={"hnsw": backend})
        self.version = self.runtime.spec(backend).version
        self.backend, self.storage, self.floats = backend, storage, floats
        self._index: HnswIndex | None = None

    @property
    def index(self) -> HnswIndex:
        """The index of the last ``build``."""
        if self._index is None:
            raise RuntimeError(f"{self.name}: search before build")
        return self._index

    def build(self, base: np.ndarray, threads: int) -> None:
        config = HnswConfig(
            dimensions=base.shape[1],
            m=M,
            ef_construction=EF_CONSTRUCTION,
            metric="cosine",
            storage=self.storage,
            floats=self.floats,
        )
        index = self.runtime.hnsw(config)
        index.insert_batch([str(i) for i in range(len(base))], base)
        self._index = index

    def searcher(self, ef: int, k: int) -> Search:
        index = self.index
        return lambda query: index.search(query, k=k, ef=ef)

    def rows(self, raw: Any) -> list[int]:
        return [int(hit.id) for hit in raw]

    def batch_searcher(self, ef: int, k: int, threads: int) -> Search:
        index = self.index
        return lambda queries: index.search_batch(queries, k=k, ef=ef)

    def batch_rows(self, raw: Any) -> list[list[int]]:
        return [[-1 if i is None else int(i) for i in row] for row in raw[0]]

    def inserter(self, extra: int) -> Insert:
        index = self.index
        return lambda row, vector: index.insert(str(row), vector)

    def reported_bytes(self) -> int:
        return self.index.stats().memory_bytes


def storage_engine_name(backend: str, storage: StorageKind, floats: FloatsPlacement) -> str:
    """``native`` for float32, ``native int8`` with floats kept, ``native int8 no-floats`` without."""
    if storage == "float32":
        return backend
    return f"{backend} {storage}" if floats == "resident" else f"{backend} {storage} no-floats"


STORAGE_VARIANTS: tuple[tuple[StorageKind, FloatsPlacement], ...] = (
    ("int8", "resident"),
    ("int8", "none"),
    ("binary", "resident"),
    ("binary", "none"),
)


def _ruvector_engine_named(name: str) -> RuvectorEngine:
    """The engine ``storage_engine_name`` named."""
    for storage, floats in STORAGE_VARIANTS:
        suffix = storage_engine_name("", storage, floats)
        if name.endswith(suffix):
            return RuvectorEngine(name[: -len(suffix)], storage=storage, floats=floats)
    return RuvectorEngine(name)


class GraphEngine(IndexEngine):
    """A ruvector engine's index searched through the backend object behind the facade
    (``HnswIndex._graph``, the ``HnswGraph`` the backend served): no checks, no result
    wrapping. It has no index of its own; the owner's last build is searched."""

    kind = "ruvector"

    def __init__(self, owner: RuvectorEngine) -> None:
        self.owner = owner
        self.name = f"{owner.name} (graph)"
        self.variant_of = owner.name
        self.version = owner.version

    def build(self, base: np.ndarray, threads: int) -> None:
        """Nothing to build: the owner's index is searched."""

    def searcher(self, ef: int, k: int) -> Search:
        graph = self.owner.index._graph
        ef = max(ef, k)  # what the facade passes on
        return lambda query: graph.search(query, k, ef)

    def rows(self, raw: Any) -> list[int]:
        return [int(id_) for id_, _ in raw]


class HnswlibEngine(IndexEngine):
    name = "hnswlib"
    kind = "peer"

    def __init__(self) -> None:
        import hnswlib

        self._hnswlib = hnswlib
        self.version = package_version("hnswlib")

    def build(self, base: np.ndarray, threads: int) -> None:
        index = self._hnswlib.Index(space="cosine", dim=base.shape[1])
        index.init_index(max_elements=len(base), ef_construction=EF_CONSTRUCTION, M=M, random_seed=0)
        index.set_num_threads(threads)
        index.add_items(base, np.arange(len(base)))
        self._index = index

    def searcher(self, ef: int, k: int) -> Search:
        index = self._index
        index.set_ef(ef)
        return lambda query: index.knn_query(query, k=k, num_threads=1)

    def rows(self, raw: Any) -> list[int]:
        return [int(label) for label in raw[0][0]]

    def batch_searcher(self, ef: int, k: int, threads: int) -> Search:
        index = self._index
        index.set_ef(ef)
        return lambda queries: index.knn_query(queries, k=k, num_threads=threads)

    def batch_rows(self, raw: Any) -> list[list[int]]:
        return [[int(label) for label in row] for row in raw[0]]

    def inserter(self, extra: int) -> Insert:
        index = self._index
        index.resize_index(index.get_max_elements() + extra)
        return lambda row, vector: index.add_items(vector[None, :], [row], num_threads=1)


class FaissEngine(IndexEngine):
    name = "faiss"
    kind = "peer"

    def __init__(self) -> None:
        import faiss

        self._faiss = faiss
        self.version = package_version("faiss-cpu") or getattr(faiss, "__version__", None)

    def build(self, base: np.ndarray, threads: int) -> None:
        faiss = self._faiss
        index = faiss.IndexHNSWFlat(base.shape[1], M, faiss.METRIC_INNER_PRODUCT)  # unit vectors: IP = cosine
        index.hnsw.efConstruction = EF_CONSTRUCTION
        faiss.omp_set_num_threads(threads)
        try:
            index.add(unit_rows(base))
        finally:
            faiss.omp_set_num_threads(1)
        self._index = index

    def searcher(self, ef: int, k: int) -> Search:
        index = self._index
        self._faiss.omp_set_num_threads(1)
        index.hnsw.efSearch = ef
        return lambda query: index.search(query[None, :], k)

    def rows(self, raw: Any) -> list[int]:
        return [int(label) for label in raw[1][0]]

    def batch_searcher(self, ef: int, k: int, threads: int) -> Search:
        faiss, index = self._faiss, self._index
        index.hnsw.efSearch = ef

        def search(queries: np.ndarray) -> Any:
            faiss.omp_set_num_threads(threads)
            try:
                return index.search(queries, k)
            finally:
                faiss.omp_set_num_threads(1)

        return search

    def batch_rows(self, raw: Any) -> list[list[int]]:
        return [[int(label) for label in row] for row in raw[1]]

    def inserter(self, extra: int) -> Insert:
        index = self._index
        return lambda row, vector: index.add(unit_rows(vector[None, :]))  # ids are implicit: the next row


class UsearchEngine(IndexEngine):
    name = "usearch"
    kind = "peer"

    def __init__(self) -> None:
        from usearch.index import Index

        self._cls = Index
        self.version = package_version("usearch")

    def build(self, base: np.ndarray, threads: int) -> None:
        index = self._cls(ndim=base.shape[1], metric="cos", dtype="f32", connectivity=M, expansion_add=EF_CONSTRUCTION)
        index.add(np.arange(len(base)), base, threads=threads)
        self._index = index

    def searcher(self, ef: int, k: int) -> Search:
        index = self._index
        # usearch defines this setter apart from its getter, which mypy reads as read-only
        index.expansion_search = ef  # type: ignore[misc]
        return lambda query: index.search(query, k, threads=1)

    def rows(self, raw: Any) -> list[int]:
        return [int(key) for key in raw.keys]

    def batch_searcher(self, ef: int, k: int, threads: int) -> Search:
        index = self._index
        index.expansion_search = ef  # type: ignore[misc]  # as in searcher
        return lambda queries: index.search(queries, k, threads=threads)

    def batch_rows(self, raw: Any) -> list[list[int]]:
        return [[int(key) for key in row] for row in raw.keys]

    def inserter(self, extra: int) -> Insert:
        index = self._index
        return lambda row, vector: index.add(row, vector, threads=1)


class FaissSq8Engine(FaissEngine):
    """FAISS ``IndexHNSWSQ`` with 8-bit scalar quantization (per-dimension ranges trained on
    the base): the graph is built and searched on one byte per dimension, with no float
    vectors kept and no re-scoring."""

    name = "faiss-hnsw-sq8"

    def build(self, base: np.ndarray, threads: int) -> None:
        faiss = self._faiss
        index = faiss.IndexHNSWSQ(base.shape[1], faiss.ScalarQuantizer.QT_8bit, M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = EF_CONSTRUCTION
        unit = unit_rows(base)
        faiss.omp_set_num_threads(threads)
        try:
            index.train(unit)
            index.add(unit)
        finally:
            faiss.omp_set_num_threads(1)
        self._index = index


class UsearchCodesEngine(UsearchEngine):
    """USearch storing ``i8`` (it scales unit vectors to int8 itself, cosine on the codes)
    or ``b1`` (the sign bits, packed, searched by Hamming distance, no re-scoring)."""

    def __init__(self, dtype: str) -> None:
        super().__init__()
        self.dtype = dtype
        self.name = f"usearch-{dtype}"

    def build(self, base: np.ndarray, threads: int) -> None:
        metric = "hamming" if self.dtype == "b1" else "cos"
        index = self._cls(
            ndim=base.shape[1], metric=metric, dtype=self.dtype, connectivity=M, expansion_add=EF_CONSTRUCTION
        )
        index.add(np.arange(len(base)), self._codes(base), threads=threads)
        self._index = index

    def _codes(self, vectors: np.ndarray) -> np.ndarray:
        """What the index is given: packed sign bits for b1, the vectors for i8."""
        return np.packbits(vectors > 0, axis=-1) if self.dtype == "b1" else vectors

    def searcher(self, ef: int, k: int) -> Search:
        search = super().searcher(ef, k)
        return lambda query: search(self._codes(query))

    def batch_searcher(self, ef: int, k: int, threads: int) -> Search:
        search = super().batch_searcher(ef, k, threads)
        return lambda queries: search(self._codes(queries))

    def inserter(self, extra: int) -> Insert:
        insert = super().inserter(extra)
        return lambda row, vector: insert(row, self._codes(vector))


class BruteForceEngine(IndexEngine):
    """Exact search with numpy: recall 1.0, one point on the curve."""

    name = "numpy-exact"
    kind = "peer"
    swept = False

    def __init__(self) -> None:
        self.version = np.__version__

    def build(self, base: np.ndarray, threads: int) -> None:
        self._base = unit_rows(base)

    def searcher(self, ef: int, k: int) -> Search:
        base = self._base

        def search(query: np.ndarray) -> np.ndarray:
            sims = base @ query
            top = np.argpartition(-sims, k - 1)[:k]
            return top[np.argsort(-sims[top], kind="stable")]

        return search

    def rows(self, raw: Any) -> list[int]:
        return [int(row) for row in raw]

    def batch_searcher(self, ef: int, k: int, threads: int) -> Search:
        base = self._base  # numpy's BLAS runs on the run's threads (see threadlimits)

        def search(queries: np.ndarray) -> np.ndarray:
            sims = queries @ base.T
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
            return np.take_along_axis(top, order, axis=1)

        return search

    def batch_rows(self, raw: Any) -> list[list[int]]:
        return [[int(row) for row in found] for found in raw]


PEERS: dict[str, tuple[str, Callable[[], IndexEngine]]] = {
    # name: (module that must be importable, factory)
    "hnswlib": ("hnswlib", HnswlibEngine),
    "faiss": ("faiss", FaissEngine),
    "usearch": ("usearch", UsearchEngine),
    "numpy-exact": ("numpy", BruteForceEngine),
}


CODE_PEERS: dict[str, tuple[str, Callable[[], IndexEngine]]] = {
    # the peers that store codes, measured in the quantized section
    "faiss-hnsw-sq8": ("faiss", FaissSq8Engine),
    "usearch-i8": ("usearch", lambda: UsearchCodesEngine("i8")),
    "usearch-b1": ("usearch", lambda: UsearchCodesEngine("b1")),
}


def engine_named(name: str) -> IndexEngine:
    """The peer called ``name``, else the ruvector engine (``storage_engine_name``)."""
    peers = {**PEERS, **CODE_PEERS}
    if name in peers:
        return peers[name][1]()
    return _ruvector_engine_named(name)


def installed_peers(
    peers: dict[str, tuple[str, Callable[[], IndexEngine]]] = PEERS,
) -> tuple[list[IndexEngine], dict[str, str]]:
    """The ``peers`` that import here, and why the others are missing."""
    engines: list[IndexEngine] = []
    missing: dict[str, str] = {}
    for name, (module, factory) in peers.items():
        if find_spec(module) is None:
            missing[name] = f"{module} is not installed (pip install 'ruvec[bench]')"
            continue
        try:
            engines.append(factory())
        except Exception as exc:  # a broken wheel must not stop the benchmark
            missing[name] = f"failed to load: {type(exc).__name__}: {exc}"
    return engines, missing


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.ascontiguousarray(matrix / np.maximum(norms, 1e-12), dtype=np.float32)
