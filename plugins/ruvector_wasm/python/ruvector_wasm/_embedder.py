"""The wasm backend's embedder: the module's encoder (``rust/src/encoder.rs``) behind the host
side every embedding backend shares (``ruvector_textmodel``).

The encoder is loaded into one instance per worker (at most two: the bench machine's
cores). A batch with enough tokens is cut in two halves of about equal token counts that
run at once, one per instance, on two threads: wasmtime calls release the GIL. An
instance that traps is replaced by a fresh one holding the same weights.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ruvector_core.models import EmbedderConfig
from ruvector_textmodel.blobs import encoder_blob
from ruvector_textmodel.modelfiles import model_files
from ruvector_textmodel.packed import PackedEmbedder

from . import abi
from ._host import Instance

#: Fewer tokens than this run in one instance: splitting costs more than it saves.
SPLIT_TOKENS = 64
MAX_INSTANCES = 2


class _Slot:
    """One instance with the encoder loaded; replaced whole after a trap."""

    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        self.inst, self.handle = _load(blob)
        self.lock = threading.Lock()

    def embed(self, ids: np.ndarray, lengths: np.ndarray, dimensions: int) -> np.ndarray:
        with self.lock:
            trapped: list[bool] = []
            try:
                with self.inst.scratch(lambda: trapped.append(True)) as (inst, buffer):
                    texts, out_bytes = len(lengths), 4 * len(lengths) * dimensions
                    pi, pl, po = buffer(max(4, ids.nbytes)), buffer(lengths.nbytes), buffer(out_bytes)
                    inst.write(pi, ids)
                    inst.write(pl, lengths)
                    inst.call(abi.ENCODER_EMBED, self.handle, pi, len(ids), pl, texts, po)
                    return inst.f32[po // 4 : po // 4 + texts * dimensions].reshape(texts, dimensions).copy()
            finally:
                if trapped:  # the instance is abandoned; the next call gets a fresh one
                    self.inst, self.handle = _load(self.blob)


def _load(blob: bytes) -> tuple[Instance, int]:
    inst = Instance()
    with inst.lock:
        ptr = inst.alloc(len(blob))
        try:
            inst.write(ptr, blob)
            handle = inst.call(abi.ENCODER_LOAD, ptr, len(blob))
        finally:
            inst.free(ptr, len(blob))
    return inst, handle


class WasmEncoder:
    """``PackedRun`` over the module's encoder in up to two instances."""

    def __init__(self, blob: bytes, workers: int) -> None:
        count = max(1, min(workers, MAX_INSTANCES))
        if count == 1:
            self._slots = [_Slot(blob)]
        else:  # the instances load at once, on threads of their own (wasmtime releases the GIL)
            with ThreadPoolExecutor(count, thread_name_prefix="ruvector-wasm-load") as loaders:
                self._slots = list(loaders.map(lambda _: _Slot(blob), range(count)))
        first = self._slots[0]
        with first.inst.scratch() as (inst, buffer):
            out = buffer(8)
            inst.call(abi.ENCODER_DIMS, first.handle, out)
            self.dimensions, self.positions = (int(v) for v in inst.u32[out // 4 : out // 4 + 2])
        self._helper = ThreadPoolExecutor(1, thread_name_prefix="ruvector-wasm-embed") if len(self._slots) > 1 else None

    def embed(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        if self._helper is None or len(ids) < SPLIT_TOKENS or len(lengths) < 2:
            return self._slots[0].embed(ids, lengths, self.dimensions)
        ends = np.cumsum(lengths, dtype=np.int64)
        cut = int(np.searchsorted(ends, ends[-1] / 2)) + 1  # texts in the first half
        cut = min(max(cut, 1), len(lengths) - 1)
        tokens = int(ends[cut - 1])
        second = self._helper.submit(self._slots[1].embed, ids[tokens:], lengths[cut:], self.dimensions)
        first = self._slots[0].embed(ids[:tokens], lengths[:cut], self.dimensions)
        return np.vstack([first, second.result()])

    def close(self) -> None:
        if self._helper is not None:
            self._helper.shutdown(wait=False)


def wasm_embedder(config: EmbedderConfig) -> PackedEmbedder:
    files = model_files(config)
    encoder = WasmEncoder(encoder_blob(files, config), config.threads or os.cpu_count() or 1)
    return PackedEmbedder(files, config, encoder.embed, encoder.positions, encoder.close)
