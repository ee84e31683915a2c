"""The wasm backend's HNSW index and vector kernels (the core's protocols) over ``_host``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ruvector_core.errors import CorruptIndexError, InvalidInputError
from ruvector_core.models import HnswConfig, IndexStats, Metric, QuantizationConfig, QuantizedVectors

from ._host import Instance, WasmMemoryError, WasmTrapError

METRIC_CODES = {"cosine": 0, "euclidean": 1, "dot": 2}
NONE = 0xFFFFFFFF
STATS_WORDS = 70
#: Rows per call of a batch search (bounds the buffers a call needs in linear memory).
SEARCH_ROWS = 4096


class WasmHnsw:
    """An HNSW index living in its own wasm instance (the ``HnswGraph`` protocol).

    The host keeps a mirror of node -> id and live id -> node, so ``len``, ``in`` and
    ``ids`` need no call and a search returns node numbers that map to ids in Python. If
    the module traps, the index is rebuilt in a fresh instance from its own serialized
    bytes, so it stays usable; only if even that fails is it marked broken.
    """

    def __init__(self, config: HnswConfig) -> None:
        self.config = config
        self._lock = threading.RLock()
        self._broken: str | None = None
        inst = Instance()
        with inst.lock:
            handle = inst.call(
                "rv_index_new",
                config.dimensions,
                config.m,
                config.ef_construction,
                config.ef_search,
                METRIC_CODES[config.metric],
                config.seed,
            )
            if handle == 0:
                raise InvalidInputError(inst.error())
        self._attach(inst, handle, [], {})

    @classmethod
    def load(cls, data: bytes, config: HnswConfig) -> WasmHnsw:
        """Validate and load ``data`` in a fresh instance; every failure is CorruptIndexError."""
        self = cls.__new__(cls)
        self.config = config
        self._lock = threading.RLock()
        self._broken = None
        inst = Instance()
        try:
            handle = _load_into(inst, data)
        except WasmMemoryError:
            raise
        except WasmTrapError as exc:
            raise CorruptIndexError(f"index bytes could not be decoded: {exc}") from None
        if handle == 0:
            raise CorruptIndexError(inst.error())
        node_ids, live = _read_node_ids(inst, handle)
        self._attach(inst, handle, node_ids, live)
        return self

    def _attach(self, inst: Instance, handle: int, node_ids: list[str], live: dict[str, int]) -> None:
        d = self.config.dimensions
        self._inst = inst
        self._h = handle
        self._node_ids = node_ids
        self._live = live
        self._id_array: np.ndarray | None = None
        self._fn_search = inst.fn["rv_search"]
        with inst.lock:
            self._q_ptr, self._q_cap = inst.pool.acquire(4 * d)
            self._misc_ptr, self._misc_cap = inst.pool.acquire(4 * STATS_WORDS)
            self._r_ptr, self._r_cap = inst.pool.acquire(8 * 16)
        self._q_word = self._q_ptr // 4
        self._r_word = self._r_ptr // 4
        self._k_cap = self._r_cap // 8

    # -- protocol ---------------------------------------------------------------------

    def insert_batch(self, ids: list[str], vectors: np.ndarray) -> None:
        n = len(ids)
        if n == 0:
            return
        encoded = [s.encode("utf-8") for s in ids]
        text = b"".join(encoded)
        offsets = np.zeros(n + 1, dtype=np.uint32)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        with self._lock:
            self._check()
            with self._scratch() as (inst, acquire):
                t_ptr = acquire(max(1, len(text)))
                o_ptr = acquire(4 * (n + 1))
                v_ptr = acquire(vectors.nbytes)
                inst.headroom(inst.call("rv_insert_need", self._h, n, len(text)))
                inst.write(t_ptr, text)
                inst.write(o_ptr, offsets)
                inst.write(v_ptr, vectors)
                first = len(self._node_ids)
                status = inst.call(
                    "rv_insert",
                    self._h,
                    t_ptr,
                    len(text),
                    o_ptr,
                    n,
                    v_ptr,
                    seconds=inst.shared.timeout + n * inst.shared.per_row,
                )
                if status != 0:
                    raise InvalidInputError(inst.error())
            node_ids, live = self._node_ids, self._live
            node_ids.extend(ids)
            for i, id_ in enumerate(ids):
                live[id_] = first + i
            self._id_array = None

    def search(self, query: np.ndarray, k: int, ef: int) -> list[tuple[str, float]]:
        live = len(self._live)
        if live == 0:
            return []
        if k > live:
            k = live
        with self._lock:
            if self._broken is not None or k > self._k_cap:
                self._check()
                self._grow_results(k)
            inst = self._inst
            try:
                with inst.lock:
                    inst.f32[self._q_word : self._q_word + query.shape[0]] = query
                    count = inst.search_call(self._fn_search, self._h, self._q_ptr, k, ef, self._r_ptr)
                    pairs = inst.u32[self._r_word : self._r_word + 2 * count]
                    nodes = pairs[0::2].tolist()
                    scores = pairs[1::2].view(np.float32).tolist()
            except WasmTrapError:
                self._recover()
                raise
            ids = self._node_ids
        return [(ids[n], s) for n, s in zip(nodes, scores, strict=True)]

    def search_batch(self, queries: np.ndarray, k: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
        q = queries.shape[0]
        out_ids = np.full((q, k), None, dtype=object)
        out_scores = np.full((q, k), -np.inf, dtype=np.float32)
        live = len(self._live)
        if live == 0 or q == 0:
            return out_ids, out_scores
        kk = min(k, live)
        nodes = np.empty((q, kk), dtype=np.uint32)
        with self._lock:
            self._check()
            rows = max(1, min(q, SEARCH_ROWS))
            with self._scratch() as (inst, acquire):
                q_ptr = acquire(queries[:rows].nbytes)
                n_ptr = acquire(4 * rows * kk)
                s_ptr = acquire(4 * rows * kk)
                for start in range(0, q, rows):
                    chunk = queries[start : start + rows]
                    c = chunk.shape[0]
                    inst.write(q_ptr, chunk)
                    status = inst.call(
                        "rv_search_batch",
                        self._h,
                        q_ptr,
                        c,
                        kk,
                        ef,
                        n_ptr,
                        s_ptr,
                        seconds=inst.shared.timeout + c * inst.shared.per_row,
                    )
                    if status < 0:
                        raise InvalidInputError(inst.error())
                    nodes[start : start + c] = inst.u32[n_ptr // 4 : n_ptr // 4 + c * kk].reshape(c, kk)
                    out_scores[start : start + c, :kk] = inst.f32[s_ptr // 4 : s_ptr // 4 + c * kk].reshape(c, kk)
            table = self._ids_table()
        nodes = np.where(nodes == NONE, len(table) - 1, nodes)
        out_ids[:, :kk] = table[nodes]
        return out_ids, out_scores

    def delete(self, id: str) -> bool:
        with self._lock:
            if id not in self._live:
                return False
            self._check()
            raw = id.encode("utf-8")
            with self._scratch() as (inst, acquire):
                ptr = acquire(len(raw))
                inst.write(ptr, raw)
                node = inst.call("rv_delete", self._h, ptr, len(raw))
            if node < 0:
                return False
            del self._live[id]
            return True

    def __contains__(self, id: object) -> bool:
        return id in self._live

    def __len__(self) -> int:
        return len(self._live)

    def ids(self) -> list[str]:
        """Live ids in node order."""
        return [id_ for id_, _ in sorted(self._live.items(), key=lambda item: item[1])]

    def stats(self) -> IndexStats:
        with self._lock:
            self._check()
            inst = self._inst
            with inst.lock:
                words = inst.call("rv_stats", self._h, self._misc_ptr)
                raw = inst.u32[self._misc_ptr // 4 : self._misc_ptr // 4 + words].copy()
        live, deleted, max_level, _, memory, levels = (int(x) for x in raw[:6])
        c = self.config
        return IndexStats(
            backend="wasm",
            dimensions=c.dimensions,
            metric=c.metric,
            m=c.m,
            ef_construction=c.ef_construction,
            ef_search=c.ef_search,
            count=live,
            deleted=deleted,
            max_level=max_level - (1 << 32) if max_level >= 1 << 31 else max_level,
            nodes_per_level=[int(x) for x in raw[6 : 6 + levels]],
            memory_bytes=memory,
        )

    def serialize(self) -> bytes:
        with self._lock:
            self._check()
            try:
                return _serialize(self._inst, self._h, self._misc_ptr)
            except WasmTrapError:
                self._recover()
                raise

    # -- extras ---------------------------------------------------------------------------

    def memory_stats(self) -> dict[str, Any]:
        """The instance's linear memory and buffer pool statistics."""
        inst = self._inst
        with inst.lock:
            return {"linear_memory_bytes": inst.size, "memory_limit_bytes": inst.shared.max_memory, **inst.pool.stats()}

    def __repr__(self) -> str:
        c = self.config
        return f"WasmHnsw(dimensions={c.dimensions}, metric={c.metric!r}, count={len(self)})"

    # -- internals ------------------------------------------------------------------------

    @contextmanager
    def _scratch(self) -> Iterator[tuple[Instance, Callable[[int], int]]]:
        """The instance under its lock and an allocator of temporary buffers, released on
        the way out. A trap moves the index into a fresh instance before the error goes
        on; the trapped instance's buffers go with it, so they are not released."""
        inst = self._inst
        buffers: list[tuple[int, int]] = []
        try:
            with inst.lock:
                yield inst, lambda nbytes: _keep(buffers, inst.pool.acquire(nbytes))[0]
        except WasmTrapError:
            buffers.clear()
            self._recover()
            raise
        finally:
            for ptr, cap in buffers:
                inst.pool.release(ptr, cap)

    def _check(self) -> None:
        if self._broken is not None:
            raise WasmTrapError(f"this index is unusable: {self._broken}")

    def _grow_results(self, k: int) -> None:
        inst = self._inst
        with inst.lock:
            ptr, cap = inst.pool.acquire(8 * k)
            inst.pool.release(self._r_ptr, self._r_cap)
            self._r_ptr, self._r_cap = ptr, cap
        self._r_word = ptr // 4
        self._k_cap = cap // 8

    def _ids_table(self) -> np.ndarray:
        """Node -> id as an object array, with a trailing None for padding."""
        if self._id_array is None or len(self._id_array) != len(self._node_ids) + 1:
            table = np.empty(len(self._node_ids) + 1, dtype=object)
            table[:-1] = self._node_ids
            table[-1] = None
            self._id_array = table
        return self._id_array

    def _recover(self) -> None:
        """After a trap: move the index into a fresh instance through its own bytes."""
        old = self._inst
        try:
            with old.lock:
                blob = _serialize(old, self._h, self._misc_ptr)
            inst = Instance()
            handle = _load_into(inst, blob)
            if handle == 0:
                raise CorruptIndexError(inst.error())
            node_ids, live = _read_node_ids(inst, handle)
        except Exception as exc:  # the state the trap left behind cannot be saved
            self._broken = f"the wasm module trapped and the index could not be recovered ({exc})"
            return
        old.pool.forget()
        self._attach(inst, handle, node_ids, live)


def _keep(buffers: list[tuple[int, int]], buffer: tuple[int, int]) -> tuple[int, int]:
    buffers.append(buffer)
    return buffer


def _load_into(inst: Instance, data: bytes) -> int:
    with inst.lock:
        ptr, cap = inst.pool.acquire(max(1, len(data)))
        try:
            inst.write(ptr, data)
            return inst.call("rv_load", ptr, len(data), seconds=inst.shared.timeout + len(data) / 1e7)
        finally:
            inst.pool.release(ptr, cap)


def _serialize(inst: Instance, handle: int, misc_ptr: int) -> bytes:
    with inst.lock:
        ptr = inst.call("rv_serialize", handle, misc_ptr)
        if ptr == 0:
            raise WasmMemoryError(inst.error())
        length = int(inst.u32[misc_ptr // 4])
        try:
            return inst.read(ptr, length)
        finally:
            inst.free(ptr, length)


def _read_node_ids(inst: Instance, handle: int) -> tuple[list[str], dict[str, int]]:
    with inst.lock:
        n = inst.call("rv_node_count", handle)
        lp, lcap = inst.pool.acquire(8)
        try:
            ptr = inst.call("rv_node_ids", handle, lp)
            if ptr == 0:
                raise WasmMemoryError(inst.error())
            length = int(inst.u32[lp // 4])
            blob = inst.read(ptr, length)
            inst.free(ptr, length)
        finally:
            inst.pool.release(lp, lcap)
    offsets = np.frombuffer(blob, dtype="<u4", count=n + 1).tolist()
    flags = blob[4 * (n + 1) : 5 * n + 4]
    text = blob[5 * n + 4 :]
    node_ids = [text[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n)]
    live = {node_ids[i]: i for i in range(n) if flags[i] == 0}
    return node_ids, live


# -- vector kernels -------------------------------------------------------------------------------

_kernel_instance: Instance | None = None
_kernel_lock = threading.Lock()
#: Input bytes per kernel call (bounds the buffers a call needs in linear memory).
CHUNK_BYTES = 8 * 1024 * 1024


def _kernels() -> Instance:
    global _kernel_instance
    with _kernel_lock:
        if _kernel_instance is None:
            _kernel_instance = Instance()
        return _kernel_instance


def _reset_kernels(broken: Instance) -> None:
    global _kernel_instance
    with _kernel_lock:
        if _kernel_instance is broken:
            _kernel_instance = None


class WasmKernels:
    """Distances, normalisation and quantization run by the module (``VectorKernels``)."""

    def _run(self, fn):  # type: ignore[no-untyped-def]
        inst = _kernels()
        buffers: list[tuple[int, int]] = []
        try:
            with inst.lock:
                return fn(inst, lambda nbytes: _keep(buffers, inst.pool.acquire(max(1, nbytes)))[0])
        except WasmTrapError:
            buffers.clear()
            _reset_kernels(inst)
            raise
        finally:
            for ptr, cap in buffers:
                inst.pool.release(ptr, cap)

    def distance(self, a: np.ndarray, b: np.ndarray, metric: Metric) -> float:
        d = a.shape[0]

        def go(inst: Instance, buf: Any) -> float:
            pa, pb = buf(4 * d), buf(4 * d)
            inst.write(pa, a)
            inst.write(pb, b)
            return float(inst.call("rv_distance", pa, pb, d, METRIC_CODES[metric]))

        return self._run(go)

    def batch_distance(self, query: np.ndarray, matrix: np.ndarray, metric: Metric) -> np.ndarray:
        n, d = matrix.shape
        out = np.empty(n, dtype=np.float32)
        rows = _rows_per_chunk(d * 4)

        def go(inst: Instance, buf: Any) -> np.ndarray:
            pq, pm, po = buf(4 * d), buf(4 * d * min(n, rows)), buf(4 * min(n, rows))
            inst.write(pq, query)
            for start in range(0, n, rows):
                part = matrix[start : start + rows]
                inst.write(pm, part)
                inst.call("rv_batch_distance", pq, pm, len(part), d, METRIC_CODES[metric], po)
                out[start : start + len(part)] = inst.f32[po // 4 : po // 4 + len(part)]
            return out

        return self._run(go)

    def normalize(self, matrix: np.ndarray) -> np.ndarray:
        n, d = matrix.shape
        out = np.empty_like(matrix)
        rows = _rows_per_chunk(d * 4)

        def go(inst: Instance, buf: Any) -> np.ndarray:
            pm = buf(4 * d * min(n, rows))
            for start in range(0, n, rows):
                part = matrix[start : start + rows]
                inst.write(pm, part)
                inst.call("rv_normalize", pm, len(part), d)
                out[start : start + len(part)] = inst.f32[pm // 4 : pm // 4 + part.size].reshape(part.shape)
            return out

        return self._run(go)

    def quantize(self, matrix: np.ndarray, config: QuantizationConfig) -> QuantizedVectors:
        n, d = matrix.shape
        rows = _rows_per_chunk(d * 4)
        binary = config.kind == "binary"
        width = (d + 7) // 8 if binary else d
        codes = np.empty((n, width), dtype=np.uint8 if binary else np.int8)
        scales = np.empty(n, dtype=np.float32)
        offsets = np.zeros(n, dtype=np.float32)

        def go(inst: Instance, buf: Any) -> None:
            r = min(n, rows)
            pm, pc, ps, po = buf(4 * d * r), buf(width * r), buf(4 * r), buf(4 * r)
            for start in range(0, n, rows):
                part = matrix[start : start + rows]
                c = len(part)
                inst.write(pm, part)
                if binary:
                    inst.call("rv_quantize_binary", pm, c, d, pc, ps)
                else:
                    inst.call("rv_quantize_int8", pm, c, d, pc, ps, po)
                    offsets[start : start + c] = inst.f32[po // 4 : po // 4 + c]
                codes[start : start + c] = inst.u8[pc : pc + c * width].view(codes.dtype).reshape(c, width)
                scales[start : start + c] = inst.f32[ps // 4 : ps // 4 + c]

        self._run(go)
        return QuantizedVectors(kind=config.kind, dimensions=d, codes=codes, scales=scales, offsets=offsets)

    def dequantize(self, quantized: QuantizedVectors) -> np.ndarray:
        d = quantized.dimensions
        binary = quantized.kind == "binary"
        width = (d + 7) // 8 if binary else d
        codes = np.ascontiguousarray(quantized.codes, dtype=np.uint8 if binary else np.int8)
        if codes.ndim != 2 or codes.shape[1] != width:
            raise InvalidInputError(f"{quantized.kind} codes must be a 2-d array of {width} columns")
        n = codes.shape[0]
        scales = np.ascontiguousarray(quantized.scales, dtype=np.float32).reshape(-1)
        offsets = np.ascontiguousarray(quantized.offsets, dtype=np.float32).reshape(-1)
        if scales.shape[0] != n or (not binary and offsets.shape[0] != n):
            raise InvalidInputError("scales and offsets must have one entry per row")
        out = np.empty((n, d), dtype=np.float32)
        rows = _rows_per_chunk(d * 4)

        def go(inst: Instance, buf: Any) -> None:
            r = min(n, rows)
            pc, ps, po, pout = buf(width * r), buf(4 * r), buf(4 * r), buf(4 * d * r)
            for start in range(0, n, rows):
                c = min(rows, n - start)
                inst.write(pc, codes[start : start + c])
                inst.write(ps, scales[start : start + c])
                if binary:
                    inst.call("rv_dequantize_binary", pc, c, d, ps, pout)
                else:
                    inst.write(po, offsets[start : start + c])
                    inst.call("rv_dequantize_int8", pc, c, d, ps, po, pout)
                out[start : start + c] = inst.f32[pout // 4 : pout // 4 + c * d].reshape(c, d)

        self._run(go)
        return out


def _rows_per_chunk(row_bytes: int) -> int:
    return max(1, CHUNK_BYTES // max(1, row_bytes))
