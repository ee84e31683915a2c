"""The wasm backend's vector kernels (the core's ``VectorKernels`` protocol) over ``_host``.

Every kernel call runs in one shared instance; inputs go through it in chunks of at most
``CHUNK_BYTES``, so the buffers a call needs in linear memory stay bounded. A trap drops the
shared instance and the next call starts a fresh one.
"""

from __future__ import annotations

import functools
import threading

import numpy as np

from ruvector_core.models import Metric, QuantizationConfig, QuantizedVectors

from . import abi
from ._host import Instance, Scratch

#: Input bytes per kernel call.
CHUNK_BYTES = 8 * 1024 * 1024

_instance: Instance | None = None
_instance_lock = threading.Lock()


def _scratch() -> Scratch:
    """``Instance.scratch`` of the shared kernel instance, which a trap drops."""
    global _instance
    with _instance_lock:
        if _instance is None:
            _instance = Instance()
        inst = _instance
    return inst.scratch(functools.partial(_drop, inst))


def _drop(inst: Instance) -> None:
    global _instance
    with _instance_lock:
        if _instance is inst:
            _instance = None


def _rows_per_chunk(d: int) -> int:
    return max(1, CHUNK_BYTES // (4 * d))


def _code_width(kind: str, d: int) -> int:
    """Bytes of codes per row: one bit per component for binary, one byte for int8."""
    return (d + 7) // 8 if kind == "binary" else d


class WasmKernels:
    """Distances, normalisation and quantization run by the module (``VectorKernels``)."""

    def distance(self, a: np.ndarray, b: np.ndarray, metric: Metric) -> float:
        d = a.shape[0]
        with _scratch() as (inst, buffer):
            pa, pb = buffer(4 * d), buffer(4 * d)
            inst.write(pa, a)
            inst.write(pb, b)
            return inst.call(abi.DISTANCE, pa, pb, d, abi.METRIC_CODES[metric])

    def batch_distance(self, query: np.ndarray, matrix: np.ndarray, metric: Metric) -> np.ndarray:
        n, d = matrix.shape
        out = np.empty(n, dtype=np.float32)
        rows = _rows_per_chunk(d)
        with _scratch() as (inst, buffer):
            pq, pm, po = buffer(4 * d), buffer(4 * d * min(n, rows)), buffer(4 * min(n, rows))
            inst.write(pq, query)
            for start in range(0, n, rows):
                part = matrix[start : start + rows]
                inst.write(pm, part)
                inst.call(abi.BATCH_DISTANCE, pq, pm, len(part), d, abi.METRIC_CODES[metric], po)
                out[start : start + len(part)] = inst.f32[po // 4 : po // 4 + len(part)]
        return out

    def normalize(self, matrix: np.ndarray) -> np.ndarray:
        n, d = matrix.shape
        out = np.empty_like(matrix)
        rows = _rows_per_chunk(d)
        with _scratch() as (inst, buffer):
            pm = buffer(4 * d * min(n, rows))
            for start in range(0, n, rows):
                part = matrix[start : start + rows]
                inst.write(pm, part)
                inst.call(abi.NORMALIZE, pm, len(part), d)
                out[start : start + len(part)] = inst.f32[pm // 4 : pm // 4 + part.size].reshape(part.shape)
        return out

    def quantize(self, matrix: np.ndarray, config: QuantizationConfig) -> QuantizedVectors:
        n, d = matrix.shape
        rows = _rows_per_chunk(d)
        binary = config.kind == "binary"
        width = _code_width(config.kind, d)
        codes = np.empty((n, width), dtype=np.uint8 if binary else np.int8)
        scales = np.empty(n, dtype=np.float32)
        offsets = np.zeros(n, dtype=np.float32)
        with _scratch() as (inst, buffer):
            r = min(n, rows)
            pm, pc, ps, po = buffer(4 * d * r), buffer(width * r), buffer(4 * r), buffer(4 * r)
            for start in range(0, n, rows):
                part = matrix[start : start + rows]
                c = len(part)
                inst.write(pm, part)
                if binary:
                    inst.call(abi.QUANTIZE_BINARY, pm, c, d, pc, ps)
                else:
                    inst.call(abi.QUANTIZE_INT8, pm, c, d, pc, ps, po)
                    offsets[start : start + c] = inst.f32[po // 4 : po // 4 + c]
                codes[start : start + c] = inst.u8[pc : pc + c * width].view(codes.dtype).reshape(c, width)
                scales[start : start + c] = inst.f32[ps // 4 : ps // 4 + c]
        return QuantizedVectors(kind=config.kind, dimensions=d, codes=codes, scales=scales, offsets=offsets)

    def dequantize(self, quantized: QuantizedVectors) -> np.ndarray:
        """``quantized`` validated itself (dtype, shape, finite float32 scales and offsets,
        contiguous), so its arrays go to the module as they are."""
        d = quantized.dimensions
        binary = quantized.kind == "binary"
        width = _code_width(quantized.kind, d)
        codes, scales, offsets = quantized.codes, quantized.scales, quantized.offsets
        n = quantized.count
        out = np.empty((n, d), dtype=np.float32)
        rows = _rows_per_chunk(d)
        with _scratch() as (inst, buffer):
            r = min(n, rows)
            pc, ps, po, pout = buffer(width * r), buffer(4 * r), buffer(4 * r), buffer(4 * d * r)
            for start in range(0, n, rows):
                c = min(rows, n - start)
                inst.write(pc, codes[start : start + c])
                inst.write(ps, scales[start : start + c])
                if binary:
                    inst.call(abi.DEQUANTIZE_BINARY, pc, c, d, ps, pout)
                else:
                    inst.write(po, offsets[start : start + c])
                    inst.call(abi.DEQUANTIZE_INT8, pc, c, d, ps, po, pout)
                out[start : start + c] = inst.f32[pout // 4 : pout // 4 + c * d].reshape(c, d)
        return out
