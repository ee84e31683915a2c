"""``HnswGraph`` served by numba: ids and locking in Python, the graph in arrays.

Python keeps what is naturally Python (the id <-> node maps, the level draws, the lock);
every loop over nodes runs in ``_hnsw_kernels``. One batch insert is one compiled call per
chunk of ``INSERT_CHUNK`` nodes; between chunks the write lock is released so searches
are not starved by a large batch (each chunk leaves a complete, consistent graph).

Locking: a writer-preferring readers-writer lock. Searches hold it shared and run with the
GIL released (``nogil``), so Python threads search in parallel; inserts, deletes and
growth hold it exclusively, so a reader never sees a half-linked node or a reallocated
array. ``search_batch`` spreads queries over numba's threads with ``prange``. A filter
(``allow_mask``) is a bool array handed to the same kernels, which apply it in the walk.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from ruvector_core import footprint, index_format
from ruvector_core.models import MAX_LEVEL, METRIC_CODES, HnswConfig, IndexStats, QuantizedVectors

from . import _hnsw_kernels as K
from . import _vector_kernels as V
from ._jit import launch_lock, num_threads

INSERT_CHUNK = 2048
PARALLEL_MIN_QUERIES = 4  # below this, search_batch loops over the single-query kernel


class _RWLock:
    """Many readers or one writer; a waiting writer blocks new readers (so a stream of
    searches cannot starve an insert). Plain methods, no context managers: this sits on
    the per-query path."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._waiting = 0

    def acquire_read(self) -> None:
        with self._cond:
            while self._writer or self._waiting:
                self._cond.wait()
            self._readers += 1

    def release_read(self) -> None:
        with self._cond:
            self._readers -= 1
            if not self._readers and self._waiting:
                self._cond.notify_all()

    def acquire_write(self) -> None:
        with self._cond:
            self._waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._waiting -= 1
            self._writer = True

    def release_write(self) -> None:
        with self._cond:
            self._writer = False
            self._cond.notify_all()

    @contextmanager
    def read(self) -> Iterator[None]:
        self.acquire_read()
        try:
            yield
        finally:
            self.release_read()

    @contextmanager
    def write(self) -> Iterator[None]:
        self.acquire_write()
        try:
            yield
        finally:
            self.release_write()


class NumbaHnsw:
    def __init__(self, config: HnswConfig, backend_name: str = "numba", capacity: int = 64) -> None:
        self.config = config
        self._backend_name = backend_name
        self._metric = METRIC_CODES[config.metric]
        self._m = config.m
        d = config.dimensions
        self._n = 0
        self._upper_used = 0
        # What each node stores (see _hnsw_kernels: ``space``): arrays a storage kind does not
        # use stay one-row placeholders and are never grown.
        self._resident = config.floats == "resident"
        rows = {"vectors": self._resident, "codes": config.storage == "int8", "bits": config.storage == "binary"}
        self._width = _words(d)
        self._vectors: NDArray[np.float32] = np.zeros((capacity if rows["vectors"] else 1, d), dtype=np.float32)
        self._codes: NDArray[np.int8] = np.zeros((capacity if rows["codes"] else 1, d), dtype=np.int8)
        self._bits: NDArray[np.uint64] = np.zeros((capacity if rows["bits"] else 1, self._width), dtype=np.uint64)
        per_code = capacity if config.quantized else 1
        self._scales: NDArray[np.float32] = np.zeros(per_code, dtype=np.float32)
        self._lows: NDArray[np.float32] = np.zeros(per_code, dtype=np.float32)
        self._squares: NDArray[np.float32] = np.zeros(per_code, dtype=np.float32)
        self._levels: NDArray[np.int32] = np.zeros(capacity, dtype=np.int32)
        self._deleted: NDArray[np.uint8] = np.zeros(capacity, dtype=np.uint8)
        self._links0: NDArray[np.int32] = np.zeros((capacity, 2 * self._m + 1), dtype=np.int32)
        self._upper_off: NDArray[np.int32] = np.full(capacity, -1, dtype=np.int32)
        self._upper: NDArray[np.int32] = np.zeros((max(capacity // 8, 4), self._m + 1), dtype=np.int32)
        self._state: NDArray[np.int64] = np.array([-1, -1], dtype=np.int64)  # entry point, max level
        self._ids: list[str] = []  # node -> id
        self._node_of: dict[str, int] = {}  # live id -> node
        self._deleted_count = 0
        self._rng = np.random.default_rng(config.seed)
        self._lock = _RWLock()
        self._writers = threading.Lock()  # one insert_batch at a time, so level draws stay in order
        self._local = threading.local()  # per-thread visited markers for searches
        self._write_visited: NDArray[np.int32] = np.zeros(capacity, dtype=np.int32)
        self._write_epoch: NDArray[np.int64] = np.zeros(1, dtype=np.int64)

    # -- the HnswGraph protocol ------------------------------------------------------------

    def insert_batch(self, ids: list[str], vectors: np.ndarray) -> None:
        if self.config.metric == "cosine":
            vectors = _unit_rows(vectors)
        with self._writers:
            levels = self._draw_levels(len(ids))
            for start in range(0, len(ids), INSERT_CHUNK):
                stop = min(start + INSERT_CHUNK, len(ids))
                with self._lock.write():
                    self._insert_chunk(ids[start:stop], vectors[start:stop], levels[start:stop])

    def allow_mask(self, ids: list[str]) -> NDArray[np.bool_]:
        with self._lock.read():
            mask = np.zeros(self._n, dtype=np.bool_)
            nodes = [node for node in map(self._node_of.get, ids) if node is not None]
        mask[nodes] = True
        return mask

    def search(self, query: np.ndarray, k: int, ef: int, allow: np.ndarray | None = None) -> list[tuple[str, float]]:
        if allow is not None:
            allow = _as_mask(allow)
        lock = self._lock
        lock.acquire_read()
        try:
            n = self._n
            local = self._local
            visited = getattr(local, "visited", None)
            if visited is None or visited.shape[0] < n:
                visited, epoch = self._scratch(n)
            else:
                epoch = local.epoch
            nodes, scores = K.search(
                query,
                k,
                ef,
                self._metric,
                self._space(),
                self._deleted,
                allow,
                self._links0,
                self._upper,
                self._upper_off,
                self._state,
                n,
                visited,
                epoch,
            )
            ids = self._ids
            return [(ids[node], score) for node, score in zip(nodes.tolist(), scores.tolist(), strict=True)]
        finally:
            lock.release_read()

    def search_batch(
        self, queries: np.ndarray, k: int, ef: int, allow: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        if allow is not None:
            allow = _as_mask(allow)
        count = len(queries)
        out_ids = np.full((count, k), None, dtype=object)
        out_scores = np.full((count, k), -np.inf, dtype=np.float32)
        if count < PARALLEL_MIN_QUERIES or num_threads() < 2:
            for row, query in enumerate(queries):
                for col, (id_, score) in enumerate(self.search(query, k, ef, allow)):
                    out_ids[row, col] = id_
                    out_scores[row, col] = score
            return out_ids, out_scores
        with self._lock.read():
            n = self._n
            width = min(k, n)
            nodes = np.full((count, width), -1, dtype=np.int32)
            scores = np.full((count, width), -np.inf, dtype=np.float32)
            if n:
                workers = min(num_threads(), count)
                visited = np.zeros((workers, n), dtype=np.int32)
                epochs = np.zeros(workers, dtype=np.int64)
                with launch_lock:
                    K.search_many(
                        queries,
                        k,
                        ef,
                        self._metric,
                        self._space(),
                        self._deleted,
                        allow,
                        self._links0,
                        self._upper,
                        self._upper_off,
                        self._state,
                        n,
                        visited,
                        epochs,
                        nodes,
                        scores,
                    )
            ids = np.asarray(self._ids + [None], dtype=object)  # node -1 maps to None
        out_ids[:, :width] = ids[nodes]
        out_scores[:, :width] = scores
        return out_ids, out_scores

    def delete(self, id: str) -> bool:
        with self._lock.write():
            node = self._node_of.pop(id, -1)
            if node < 0:
                return False
            self._deleted[node] = 1
            self._deleted_count += 1
            return True

    def __contains__(self, id: object) -> bool:
        return id in self._node_of

    def __len__(self) -> int:
        return len(self._node_of)

    def ids(self) -> list[str]:
        with self._lock.read():
            return list(self._node_of)

    def stats(self) -> IndexStats:
        with self._lock.read():
            n = self._n
            top = int(self._state[1])
            counts = np.bincount(self._levels[:n], minlength=top + 1) if n else np.zeros(0, np.int64)
            per_level = np.cumsum(counts[::-1])[::-1][: top + 1].tolist() if n else []
            memory = (
                self._vectors.nbytes
                + self._codes.nbytes
                + self._bits.nbytes
                + self._scales.nbytes
                + self._lows.nbytes
                + self._squares.nbytes
                + self._levels.nbytes
                + self._deleted.nbytes
                + self._links0.nbytes
                + self._upper_off.nbytes
                + self._upper.nbytes
                + footprint.id_table_bytes(self._ids, self._node_of)
            )
            return IndexStats(
                backend=self._backend_name,
                dimensions=self.config.dimensions,
                metric=self.config.metric,
                m=self.config.m,
                ef_construction=self.config.ef_construction,
                ef_search=self.config.ef_search,
                count=len(self._node_of),
                deleted=self._deleted_count,
                max_level=top,
                nodes_per_level=[int(c) for c in per_level],
                memory_bytes=int(memory),
            )

    def serialize(self) -> bytes:
        with self._lock.read():
            graph = self._graph_data()
        return index_format.encode(graph)

    # -- loading ----------------------------------------------------------------------------

    @classmethod
    def from_graph(cls, graph: index_format.GraphData, backend_name: str = "numba") -> NumbaHnsw:
        n = len(graph.ids)
        index = cls(graph.config, backend_name, capacity=max(n, 64))
        levels = graph.levels.astype(np.int32)
        if graph.vectors is not None:
            index._vectors[:n] = graph.vectors
        if graph.codes is not None:
            index._set_codes(0, graph.codes.codes, graph.codes.scales, graph.codes.offsets)
        index._levels[:n] = levels
        index._deleted[:n] = graph.deleted
        index._deleted_count = int(np.count_nonzero(graph.deleted))
        index._ids = list(graph.ids)
        index._node_of = {i: node for node, i in enumerate(index._ids) if not graph.deleted[node]}
        upper_rows = int(levels.sum(dtype=np.int64))
        index._ensure_upper(upper_rows)
        offsets = np.cumsum(levels, dtype=np.int64) - levels
        index._upper_off[:n] = np.where(levels > 0, offsets, -1)
        index._upper_used = upper_rows
        # list j belongs to node owner[j], layer layer[j]; its links are links[start[j]:...]
        lists_per_node = levels.astype(np.int64) + 1
        owner = np.repeat(np.arange(n, dtype=np.int64), lists_per_node)
        first = np.cumsum(lists_per_node) - lists_per_node
        layer = np.arange(owner.size, dtype=np.int64) - np.repeat(first, lists_per_node)
        sizes = graph.list_sizes.astype(np.int64)
        # row of each list: layer 0 -> links0[owner], else upper[upper_off[owner] + layer - 1]
        on_zero = layer == 0
        row = np.where(on_zero, owner, offsets[owner] + layer - 1)
        index._links0[owner[on_zero], 0] = sizes[on_zero]
        index._upper[row[~on_zero], 0] = sizes[~on_zero]
        entry_list = np.repeat(np.arange(owner.size, dtype=np.int64), sizes)
        column = np.arange(entry_list.size, dtype=np.int64) - np.repeat(np.cumsum(sizes) - sizes, sizes) + 1
        links = graph.links.astype(np.int32)
        zero_entries = on_zero[entry_list]
        index._links0[row[entry_list[zero_entries]], column[zero_entries]] = links[zero_entries]
        index._upper[row[entry_list[~zero_entries]], column[~zero_entries]] = links[~zero_entries]
        index._n = n
        index._state[:] = (graph.entry_point, graph.max_level) if n else (-1, -1)
        index._rng.random(n)  # continue the level stream where the writer left it
        return index

    # -- internals --------------------------------------------------------------------------

    def _draw_levels(self, count: int) -> list[int]:
        """Level ~ floor(-ln(U) * mL), capped at 63: the reference's draw, one per node."""
        ml = self.config.level_multiplier
        top = MAX_LEVEL
        return [min(int(-np.log(1.0 - u) * ml), top) for u in self._rng.random(count).tolist()]

    def _insert_chunk(self, ids: list[str], vectors: np.ndarray, levels: list[int]) -> None:
        """Append and link one chunk; the caller holds the write lock."""
        start = self._n
        stop = start + len(ids)
        self._ensure_capacity(stop)
        level_array = np.asarray(levels, dtype=np.int32)
        self._ensure_upper(self._upper_used + int(level_array.sum()))
        if self._resident:
            self._vectors[start:stop] = vectors
        rows = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.config.storage == "int8":
            self._set_codes(start, *V.quantize_int8(rows))
        elif self.config.storage == "binary":
            packed, scales = V.quantize_binary(rows)
            self._set_codes(start, packed, scales, None)
        self._levels[start:stop] = level_array
        self._deleted[start:stop] = 0
        offsets = self._upper_used + np.cumsum(level_array) - level_array
        self._upper_off[start:stop] = np.where(level_array > 0, offsets, -1)
        self._upper_used += int(level_array.sum())
        node_of = self._node_of
        deleted = self._deleted
        for node, id_ in enumerate(ids, start):
            old = node_of.get(id_)
            if old is not None:
                deleted[old] = 1  # the replaced vector stays as a waypoint
                self._deleted_count += 1
            node_of[id_] = node
        self._ids.extend(ids)
        K.insert_nodes(
            start,
            stop,
            self._metric,
            self._m,
            self.config.ef_construction,
            self._space(),
            self._vectors[start:stop] if not self.config.quantized else rows,
            self._bits[start:stop] if self.config.storage == "binary" else self._bits,
            self._levels,
            self._links0,
            self._upper,
            self._upper_off,
            self._state,
            self._write_visited,
            self._write_epoch,
        )
        self._n = stop

    def _space(self) -> K.Space:
        """What the kernels read of each node (see ``_hnsw_kernels``), None where this
        storage kind holds nothing."""
        storage = self.config.storage
        return (
            self._vectors if self._resident else None,
            self._codes if storage == "int8" else None,
            self._bits if storage == "binary" else None,
            self._scales if storage != "float32" else None,
            self._lows if storage == "int8" else None,
            self._squares if storage == "int8" else None,
        )

    def _set_codes(
        self,
        start: int,
        codes: NDArray[np.int8 | np.uint8],
        scales: NDArray[np.float32],
        lows: NDArray[np.float32] | None,
    ) -> None:
        """Store the codes of nodes ``start...``: int8 codes with their lows (and the decoded
        rows' squared norms), or packed binary bytes as the kernels' words."""
        stop = start + len(codes)
        self._scales[start:stop] = scales
        if self.config.storage == "binary":
            self._bits[start:stop] = _as_words(codes.view(np.uint8), self._width)
            return
        assert lows is not None  # int8 codes come with their lows
        self._codes[start:stop] = codes
        self._lows[start:stop] = lows
        decoded = V.dequantize_int8(self._codes[start:stop], self._scales[start:stop], self._lows[start:stop])
        self._squares[start:stop] = np.einsum("ij,ij->i", decoded, decoded, dtype=np.float64)

    def _ensure_capacity(self, size: int) -> None:
        capacity = self._levels.shape[0]
        if size > capacity:
            new = max(size, 2 * capacity)
            if self._resident:
                self._vectors = _grown(self._vectors, new)
            if self.config.storage == "int8":
                self._codes = _grown(self._codes, new)
            if self.config.storage == "binary":
                self._bits = _grown(self._bits, new)
            if self.config.quantized:
                self._scales = _grown(self._scales, new)
                self._lows = _grown(self._lows, new)
                self._squares = _grown(self._squares, new)
            self._levels = _grown(self._levels, new)
            self._deleted = _grown(self._deleted, new)
            self._links0 = _grown(self._links0, new)
            self._upper_off = _grown(self._upper_off, new, fill=-1)
        if self._write_visited.shape[0] < self._levels.shape[0]:
            self._write_visited = np.zeros(self._levels.shape[0], dtype=np.int32)
            self._write_epoch[0] = 0

    def _ensure_upper(self, rows: int) -> None:
        if rows > self._upper.shape[0]:
            self._upper = _grown(self._upper, max(rows, 2 * self._upper.shape[0]))

    def _scratch(self, n: int) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
        """This thread's visited markers and epoch, at least ``n`` long."""
        local = self._local
        visited = getattr(local, "visited", None)
        if visited is None or visited.shape[0] < n:
            visited = local.visited = np.zeros(max(n, self._levels.shape[0]), dtype=np.int32)
            local.epoch = np.zeros(1, dtype=np.int64)
        return visited, local.epoch

    def _graph_data(self) -> index_format.GraphData:
        n = self._n
        levels = self._levels[:n]
        lists_per_node = levels.astype(np.int64) + 1
        owner = np.repeat(np.arange(n, dtype=np.int64), lists_per_node)
        first = np.cumsum(lists_per_node) - lists_per_node
        layer = np.arange(owner.size, dtype=np.int64) - np.repeat(first, lists_per_node)
        on_zero = layer == 0
        width = 2 * self._m
        table = np.zeros((owner.size, width + 1), dtype=np.int32)
        table[on_zero] = self._links0[owner[on_zero]]
        upper_rows = self._upper_off[owner[~on_zero]].astype(np.int64) + layer[~on_zero] - 1
        table[~on_zero, : self._m + 1] = self._upper[upper_rows]
        sizes = table[:, 0].astype(np.uint32)
        mask = np.arange(width)[None, :] < sizes[:, None]
        links = table[:, 1:][mask].astype(np.uint32)
        return index_format.GraphData(
            config=self.config,
            vectors=self._vectors[:n] if self._resident else None,
            levels=levels.astype(np.uint8),
            deleted=self._deleted[:n].astype(bool),
            ids=list(self._ids),
            list_sizes=sizes,
            links=links,
            entry_point=int(self._state[0]) if n else -1,
            codes=self._stored_codes(n),
        )

    def _stored_codes(self, n: int) -> QuantizedVectors | None:
        storage = self.config.storage
        if storage == "float32":
            return None
        codes: NDArray[np.int8 | np.uint8]
        if storage == "int8":
            codes, offsets = self._codes[:n], self._lows[:n]
        else:
            codes, offsets = _as_bytes(self._bits[:n], self.config.dimensions), np.zeros(n, dtype=np.float32)
        return QuantizedVectors(
            kind=storage, dimensions=self.config.dimensions, codes=codes, scales=self._scales[:n], offsets=offsets
        )


Scalar = TypeVar("Scalar", bound=np.generic)


def _grown(array: NDArray[Scalar], rows: int, fill: int = 0) -> NDArray[Scalar]:
    """``array`` with room for ``rows`` rows; the new rows hold ``fill``."""
    out = np.full((rows, *array.shape[1:]), fill, dtype=array.dtype)
    out[: array.shape[0]] = array
    return out


def _words(dimensions: int) -> int:
    """uint64 words of one binary row."""
    return (dimensions + 63) // 64


def _as_words(packed: NDArray[np.uint8], words: int) -> NDArray[np.uint64]:
    """``packbits`` rows as the kernels' little-endian uint64 words, zero-padded."""
    padded = np.zeros((len(packed), 8 * words), dtype=np.uint8)
    padded[:, : packed.shape[1]] = packed
    return padded.view("<u8").astype(np.uint64)


def _as_bytes(words: NDArray[np.uint64], dimensions: int) -> NDArray[np.uint8]:
    """The inverse of ``_as_words``: the ``packbits`` bytes of each row."""
    raw = np.ascontiguousarray(words, dtype="<u8").view(np.uint8).reshape(len(words), -1)
    return np.ascontiguousarray(raw[:, : (dimensions + 7) // 8])


def _as_mask(allow: np.ndarray) -> NDArray[np.bool_]:
    """``allow`` as the kernels take it: one contiguous bool array (no copy when it is one
    already, as ``allow_mask`` makes it), so one compiled specialisation serves every mask."""
    return np.ascontiguousarray(allow, dtype=np.bool_)


def _unit_rows(matrix: np.ndarray) -> NDArray[np.float32]:
    """Rows scaled to unit L2 norm exactly as the reference backend does it."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit = np.zeros_like(matrix)
    np.divide(matrix, norms, out=unit, where=norms > 0)
    return unit.astype(np.float32)
