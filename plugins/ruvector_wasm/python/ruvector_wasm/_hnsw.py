"""The wasm backend's HNSW index (the core's ``HnswGraph`` protocol) over ``_host``."""

from __future__ import annotations

import sys
import threading
from typing import Any

import numpy as np

from ruvector_core import footprint
from ruvector_core.errors import CorruptIndexError
from ruvector_core.models import HnswConfig, IndexStats

from . import abi
from ._host import Instance, Scratch
from .errors import WasmTrapError

#: Rows per call of a batch search (bounds the buffers a call needs in linear memory).
SEARCH_ROWS = 4096
#: The least deadline of the calls that move an index into a fresh instance after a trap: a
#: call that ran past a short deadline must not make its own recovery run past it too.
RECOVERY_SECONDS = 60.0


class WasmHnsw:
    """An HNSW index living in its own wasm instance (the ``HnswGraph`` protocol).

    The host keeps a mirror of node -> id and live id -> node, so ``len``, ``in``, ``ids``
    and ``allow_mask`` need no call and a search returns node numbers that map to ids in
    Python. A filter's mask stays in linear memory while the same mask is reused. If
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
                abi.INDEX_NEW,
                config.dimensions,
                config.m,
                config.ef_construction,
                config.ef_search,
                abi.METRIC_CODES[config.metric],
                config.seed,
                abi.STORAGE_CODES[config.storage],
                int(config.floats == "resident"),
            )
        self._attach(inst, handle, [], {})

    @classmethod
    def load(cls, data: bytes, config: HnswConfig) -> WasmHnsw:
        """Validate and load ``data`` in a fresh instance; every failure but running out of
        memory is CorruptIndexError."""
        self = cls.__new__(cls)
        self.config = config
        self._lock = threading.RLock()
        self._broken = None
        inst = Instance()
        try:
            handle = _load_into(inst, data)
        except WasmTrapError as exc:
            raise CorruptIndexError(f"index bytes could not be decoded: {exc}") from None
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
        with inst.lock:
            self._q_ptr, self._q_cap = inst.pool.acquire(4 * d)
            self._misc_ptr, self._misc_cap = inst.pool.acquire(4 * abi.STATS_WORDS)
            self._r_ptr, self._r_cap = inst.pool.acquire(8 * 16)
        self._q_word = self._q_ptr // 4
        self._r_word = self._r_ptr // 4
        self._k_cap = self._r_cap // 8
        # the buffer holding the last uploaded mask, and that mask while it may be reused
        self._allow_ptr, self._allow_cap = abi.NULL, 0
        self._allowed: np.ndarray | None = None
        self._allow_len = 0

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
                t_ptr = acquire(len(text))
                o_ptr = acquire(4 * (n + 1))
                v_ptr = acquire(vectors.nbytes)
                inst.headroom(inst.call(abi.INSERT_NEED, self._h, n, len(text)))
                inst.write(t_ptr, text)
                inst.write(o_ptr, offsets)
                inst.write(v_ptr, vectors)
                first = len(self._node_ids)
                # refused (the index unchanged) when the index could not be saved afterwards
                inst.roomy_call(
                    abi.INSERT,
                    self._h,
                    t_ptr,
                    len(text),
                    o_ptr,
                    n,
                    v_ptr,
                    seconds=inst.shared.timeout + n * inst.shared.per_row,
                )
            node_ids, live = self._node_ids, self._live
            node_ids.extend(ids)
            for i, id_ in enumerate(ids):
                live[id_] = first + i
            self._id_array = None

    def allow_mask(self, ids: list[str]) -> np.ndarray:
        """The filter for ``ids``, made on the host: it already mirrors live id -> node, so a
        mask costs a dict lookup per id and no call, where the module would need every id
        encoded and copied in. Read-only, so that it can stay uploaded while it is reused
        (see ``_upload``)."""
        with self._lock:
            mask = np.zeros(len(self._node_ids), dtype=bool)
            nodes = [node for node in map(self._live.get, ids) if node is not None]
        mask[nodes] = True
        mask.flags.writeable = False
        return mask

    def search(self, query: np.ndarray, k: int, ef: int, allow: np.ndarray | None = None) -> list[tuple[str, float]]:
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
                    if allow is None:
                        count = inst.search(abi.SEARCH, self._h, self._q_ptr, k, ef, self._r_ptr)
                    else:
                        mask = self._upload(allow)
                        count = inst.search(abi.SEARCH_FILTERED, self._h, self._q_ptr, k, ef, *mask, self._r_ptr)
                    pairs = inst.u32[self._r_word : self._r_word + 2 * count]
                    nodes = pairs[0::2].tolist()
                    scores = pairs[1::2].view(np.float32).tolist()
            except WasmTrapError:
                self._recover()
                raise
            ids = self._node_ids
        return [(ids[n], s) for n, s in zip(nodes, scores, strict=True)]

    def search_batch(
        self, queries: np.ndarray, k: int, ef: int, allow: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
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
                export, mask = (
                    (abi.SEARCH_BATCH, ()) if allow is None else (abi.SEARCH_BATCH_FILTERED, self._upload(allow))
                )
                for start in range(0, q, rows):
                    chunk = queries[start : start + rows]
                    c = chunk.shape[0]
                    inst.write(q_ptr, chunk)
                    inst.call(
                        export,
                        self._h,
                        q_ptr,
                        c,
                        kk,
                        ef,
                        *mask,
                        n_ptr,
                        s_ptr,
                        seconds=inst.shared.timeout + c * inst.shared.per_row,
                    )
                    nodes[start : start + c] = inst.u32[n_ptr // 4 : n_ptr // 4 + c * kk].reshape(c, kk)
                    out_scores[start : start + c, :kk] = inst.f32[s_ptr // 4 : s_ptr // 4 + c * kk].reshape(c, kk)
            table = self._ids_table()
        nodes = np.where(nodes == abi.NONE, len(table) - 1, nodes)
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
                node = inst.call(abi.DELETE, self._h, ptr, len(raw))
            if node == abi.FAILED:
                return False
            del self._live[id]
            return True

    def __contains__(self, id: object) -> bool:
        return id in self._live

    def __len__(self) -> int:
        return len(self._live)

    def ids(self) -> list[str]:
        """Live ids in node order; under the lock, as inserts and deletes change the mirror."""
        with self._lock:
            items = list(self._live.items())
        return [id_ for id_, _ in sorted(items, key=lambda item: item[1])]

    def stats(self) -> IndexStats:
        with self._lock:
            self._check()
            inst = self._inst
            with inst.lock:
                words = inst.call(abi.STATS, self._h, self._misc_ptr)
                raw = inst.u32[self._misc_ptr // 4 : self._misc_ptr // 4 + words].copy()
                resident = inst.resident_bytes()
            # what the process holds: the instance's resident memory (the graph's arrays are
            # a part of it) and the host's id mirror
            memory = resident + footprint.id_table_bytes(self._node_ids, self._live)
            if self._id_array is not None:
                memory += sys.getsizeof(self._id_array)
        live, deleted, _, _, _, levels = (int(x) for x in raw[: abi.STATS_HEAD_WORDS])
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
            max_level=int(raw[2:3].view(np.int32)[0]),
            nodes_per_level=[int(x) for x in raw[abi.STATS_HEAD_WORDS : abi.STATS_HEAD_WORDS + levels]],
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

    def _scratch(self) -> Scratch:
        """``Instance.scratch`` of this index's instance; a trap moves the index into a fresh
        instance before the error goes on."""
        return self._inst.scratch(self._recover)

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

    def _upload(self, allow: np.ndarray) -> tuple[int, int]:
        """(pointer, length) of ``allow``'s bytes in linear memory; the instance's lock is held.

        A filter is usually one mask reused for many queries (the core's ``AllowList``), so
        its bytes stay uploaded and are copied again only for another array. The array is
        recognised by identity and length, and held, so that its identity cannot pass to a
        new array; and only an array that cannot change under the copy is recognised at all:
        one that owns its data and is read-only, as ``allow_mask`` makes them. Any other
        array is copied on every call. Inserts and deletes leave an uploaded mask valid: the
        module skips deleted nodes, and nodes past a mask's end are not allowed.
        """
        n = len(allow)
        if allow is self._allowed and n == self._allow_len:
            return self._allow_ptr, n
        inst = self._inst
        if n > self._allow_cap:
            ptr, cap = inst.pool.acquire(n)
            if self._allow_cap:
                inst.pool.release(self._allow_ptr, self._allow_cap)
            self._allow_ptr, self._allow_cap = ptr, cap
        inst.write(self._allow_ptr, np.ascontiguousarray(allow, dtype=np.bool_))
        stable = allow.flags.owndata and not allow.flags.writeable
        self._allowed, self._allow_len = (allow, n) if stable else (None, 0)
        return self._allow_ptr, n

    def _ids_table(self) -> np.ndarray:
        """Node -> id as an object array, with a trailing None for padding."""
        if self._id_array is None or len(self._id_array) != len(self._node_ids) + 1:
            table = np.empty(len(self._node_ids) + 1, dtype=object)
            table[:-1] = self._node_ids
            table[-1] = None
            self._id_array = table
        return self._id_array

    def _recover(self) -> None:
        """After a trap: move the index into a fresh instance through its own bytes. The
        module first undoes an insert the trap cut short (inserts are all or nothing), so the
        index is exactly as before the call that trapped."""
        old = self._inst
        try:
            with old.lock:
                old.floor = RECOVERY_SECONDS  # abandoned afterwards: no need to lower it again
                blob = _serialize(old, self._h, self._misc_ptr)
            inst = Instance(floor=RECOVERY_SECONDS)
            handle = _load_into(inst, blob)
            node_ids, live = _read_node_ids(inst, handle)
            inst.floor, inst.rearm_at = 0.0, 0.0  # later calls get the configured deadline again
        except Exception as exc:  # the state the trap left behind cannot be saved
            self._broken = f"the wasm module trapped and the index could not be recovered ({exc})"
            return
        old.pool.forget()
        self._attach(inst, handle, node_ids, live)


def _load_into(inst: Instance, data: bytes) -> int:
    with inst.scratch() as (_, acquire):
        ptr = acquire(len(data))
        inst.write(ptr, data)
        return inst.call(abi.LOAD, ptr, len(data), seconds=inst.shared.timeout + len(data) / 1e7)


def _serialize(inst: Instance, handle: int, misc_ptr: int) -> bytes:
    with inst.lock:
        return _take(inst, abi.SERIALIZE, handle, misc_ptr)


def _read_node_ids(inst: Instance, handle: int) -> tuple[list[str], dict[str, int]]:
    with inst.scratch() as (_, acquire):
        n = inst.call(abi.NODE_COUNT, handle)
        blob = _take(inst, abi.NODE_IDS, handle, acquire(4))
    offsets = np.frombuffer(blob, dtype="<u4", count=n + 1).tolist()
    flags = blob[4 * (n + 1) : 5 * n + 4]
    text = blob[5 * n + 4 :]
    node_ids = [text[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n)]
    live = {node_ids[i]: i for i in range(n) if flags[i] == 0}
    return node_ids, live


def _take(inst: Instance, export: abi.Export[int], handle: int, len_ptr: int) -> bytes:
    """The bytes of a buffer the module made for the host (``rv_serialize``, ``rv_node_ids``:
    its length is written at ``len_ptr``), freed once read."""
    ptr = inst.roomy_call(export, handle, len_ptr)
    length = int(inst.u32[len_ptr // 4])
    try:
        return inst.read(ptr, length)
    finally:
        inst.free(ptr, length)
