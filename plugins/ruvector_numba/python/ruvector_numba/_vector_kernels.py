"""Compiled distance, normalisation and quantization kernels.

Inputs arrive validated (finite, C-contiguous float32). Reductions accumulate in float64,
so the results stay within the conformance tolerances whatever order the vectorised loop
adds in. Metric codes follow the index format: 0 cosine, 1 euclidean, 2 dot.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange
from numpy.typing import NDArray

from ruvector_core.models import METRIC_CODES

from ._jit import FASTMATH, jit

# the contract's metric codes, frozen into the compiled kernels as constants
COSINE, EUCLIDEAN, DOT = METRIC_CODES["cosine"], METRIC_CODES["euclidean"], METRIC_CODES["dot"]


@jit(nogil=True, fastmath=FASTMATH)
def _pair(a: NDArray[np.float32], b: NDArray[np.float32], metric: int) -> float:
    d = a.shape[0]
    if metric == EUCLIDEAN:
        s = 0.0
        for i in range(d):
            t = np.float64(a[i]) - np.float64(b[i])
            s += t * t
        return math.sqrt(s)
    dot = 0.0
    na = 0.0
    nb = 0.0
    for i in range(d):
        x = np.float64(a[i])
        y = np.float64(b[i])
        dot += x * y
        na += x * x
        nb += y * y
    if metric == DOT:
        return -dot
    denom = math.sqrt(na) * math.sqrt(nb)
    if denom != 0.0:  # NaN must propagate: the core detects bad input from the result
        return 1.0 - dot / denom
    return 1.0


@jit(nogil=True, fastmath=FASTMATH)
def distance(a: NDArray[np.float32], b: NDArray[np.float32], metric: int) -> float:
    return _pair(a, b, metric)


# Each kernel is a row function plus two drivers: a serial one for small inputs, where
# waking numba's thread pool costs more than the work, and a prange one for the rest.
PARALLEL_MIN_ELEMENTS = 1 << 18


@jit(nogil=True, fastmath=FASTMATH)
def _distance_row(
    query: NDArray[np.float32], qn: float, matrix: NDArray[np.float32], r: int, metric: int, out: NDArray[np.float32]
) -> None:
    d = matrix.shape[1]
    if metric == EUCLIDEAN:
        s = 0.0
        for i in range(d):
            t = np.float64(matrix[r, i]) - np.float64(query[i])
            s += t * t
        out[r] = math.sqrt(s)
        return
    dot = 0.0
    nr = 0.0
    for i in range(d):
        x = np.float64(matrix[r, i])
        dot += x * np.float64(query[i])
        nr += x * x
    if metric == DOT:
        out[r] = -dot
    else:
        denom = math.sqrt(nr) * qn
        out[r] = 1.0 - dot / denom if denom != 0.0 else 1.0  # NaN propagates


@jit(nogil=True, fastmath=FASTMATH)
def _norm(query: NDArray[np.float32]) -> float:
    s = 0.0
    for i in range(query.shape[0]):
        s += np.float64(query[i]) * np.float64(query[i])
    return math.sqrt(s)


@jit(nogil=True)
def batch_distance(query: NDArray[np.float32], matrix: NDArray[np.float32], metric: int) -> NDArray[np.float32]:
    out = np.empty(matrix.shape[0], dtype=np.float32)
    qn = _norm(query)
    for r in range(matrix.shape[0]):
        _distance_row(query, qn, matrix, r, metric, out)
    return out


@jit(nogil=True, parallel=True)
def batch_distance_parallel(
    query: NDArray[np.float32], matrix: NDArray[np.float32], metric: int
) -> NDArray[np.float32]:
    out = np.empty(matrix.shape[0], dtype=np.float32)
    qn = _norm(query)
    for r in prange(matrix.shape[0]):
        _distance_row(query, qn, matrix, r, metric, out)
    return out


@jit(nogil=True, fastmath=FASTMATH)
def _normalize_row(matrix: NDArray[np.float32], r: int, out: NDArray[np.float32]) -> None:
    d = matrix.shape[1]
    s = 0.0
    for i in range(d):
        s += np.float64(matrix[r, i]) * np.float64(matrix[r, i])
    inv = 1.0 / math.sqrt(s) if s > 0.0 else 0.0
    for i in range(d):
        out[r, i] = np.float64(matrix[r, i]) * inv


@jit(nogil=True)
def normalize(matrix: NDArray[np.float32]) -> NDArray[np.float32]:
    out = np.empty_like(matrix)
    for r in range(matrix.shape[0]):
        _normalize_row(matrix, r, out)
    return out


@jit(nogil=True, parallel=True)
def normalize_parallel(matrix: NDArray[np.float32]) -> NDArray[np.float32]:
    out = np.empty_like(matrix)
    for r in prange(matrix.shape[0]):
        _normalize_row(matrix, r, out)
    return out


@jit(nogil=True)
def _int8_row(
    matrix: NDArray[np.float32],
    r: int,
    codes: NDArray[np.int8],
    scales: NDArray[np.float32],
    offsets: NDArray[np.float32],
) -> None:
    """Per-row affine map of [min, max] onto 256 levels, stored as level - 128."""
    d = matrix.shape[1]
    low = np.float64(matrix[r, 0])
    high = low
    for i in range(1, d):
        x = np.float64(matrix[r, i])
        if x < low:
            low = x
        if x > high:
            high = x
    scale = (high - low) / 255.0
    safe = scale if scale > 0.0 else 1.0
    for i in range(d):
        level = np.rint((np.float64(matrix[r, i]) - low) / safe)
        if level < 0.0:
            level = 0.0
        elif level > 255.0:
            level = 255.0
        codes[r, i] = np.int8(np.int64(level) - 128)
    scales[r] = scale
    offsets[r] = low


@jit(nogil=True)
def quantize_int8(matrix: NDArray[np.float32]) -> tuple[NDArray[np.int8], NDArray[np.float32], NDArray[np.float32]]:
    n, d = matrix.shape
    codes = np.empty((n, d), dtype=np.int8)
    scales = np.empty(n, dtype=np.float32)
    offsets = np.empty(n, dtype=np.float32)
    for r in range(n):
        _int8_row(matrix, r, codes, scales, offsets)
    return codes, scales, offsets


@jit(nogil=True, parallel=True)
def quantize_int8_parallel(
    matrix: NDArray[np.float32],
) -> tuple[NDArray[np.int8], NDArray[np.float32], NDArray[np.float32]]:
    n, d = matrix.shape
    codes = np.empty((n, d), dtype=np.int8)
    scales = np.empty(n, dtype=np.float32)
    offsets = np.empty(n, dtype=np.float32)
    for r in prange(n):
        _int8_row(matrix, r, codes, scales, offsets)
    return codes, scales, offsets


@jit(nogil=True, fastmath=FASTMATH)
def _dequantize_int8_row(
    codes: NDArray[np.int8], scales: NDArray[np.float32], offsets: NDArray[np.float32], r: int, out: NDArray[np.float32]
) -> None:
    scale = np.float64(scales[r])
    offset = np.float64(offsets[r])
    for i in range(codes.shape[1]):
        out[r, i] = (np.float64(codes[r, i]) + 128.0) * scale + offset


@jit(nogil=True)
def dequantize_int8(
    codes: NDArray[np.int8], scales: NDArray[np.float32], offsets: NDArray[np.float32]
) -> NDArray[np.float32]:
    out = np.empty(codes.shape, dtype=np.float32)
    for r in range(codes.shape[0]):
        _dequantize_int8_row(codes, scales, offsets, r, out)
    return out


@jit(nogil=True, parallel=True)
def dequantize_int8_parallel(
    codes: NDArray[np.int8], scales: NDArray[np.float32], offsets: NDArray[np.float32]
) -> NDArray[np.float32]:
    out = np.empty(codes.shape, dtype=np.float32)
    for r in prange(codes.shape[0]):
        _dequantize_int8_row(codes, scales, offsets, r, out)
    return out


@jit(nogil=True)
def _binary_row(matrix: NDArray[np.float32], r: int, codes: NDArray[np.uint8], scales: NDArray[np.float32]) -> None:
    """np.packbits(row > 0) (first component in the high bit) and the mean |x|."""
    d = matrix.shape[1]
    total = 0.0
    for i in range(d):
        x = matrix[r, i]
        total += abs(np.float64(x))
        if x > 0:
            codes[r, i >> 3] |= np.uint8(128 >> (i & 7))
    scales[r] = total / d


@jit(nogil=True)
def quantize_binary(matrix: NDArray[np.float32]) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    n, d = matrix.shape
    codes = np.zeros((n, (d + 7) // 8), dtype=np.uint8)
    scales = np.empty(n, dtype=np.float32)
    for r in range(n):
        _binary_row(matrix, r, codes, scales)
    return codes, scales


@jit(nogil=True, parallel=True)
def quantize_binary_parallel(matrix: NDArray[np.float32]) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    n, d = matrix.shape
    codes = np.zeros((n, (d + 7) // 8), dtype=np.uint8)
    scales = np.empty(n, dtype=np.float32)
    for r in prange(n):
        _binary_row(matrix, r, codes, scales)
    return codes, scales


@jit(nogil=True)
def _dequantize_binary_row(
    codes: NDArray[np.uint8], scales: NDArray[np.float32], r: int, out: NDArray[np.float32]
) -> None:
    scale = np.float32(scales[r])
    for i in range(out.shape[1]):
        if (codes[r, i >> 3] >> (7 - (i & 7))) & 1:
            out[r, i] = scale
        else:
            out[r, i] = -scale


@jit(nogil=True)
def dequantize_binary(codes: NDArray[np.uint8], scales: NDArray[np.float32], d: int) -> NDArray[np.float32]:
    out = np.empty((codes.shape[0], d), dtype=np.float32)
    for r in range(codes.shape[0]):
        _dequantize_binary_row(codes, scales, r, out)
    return out


@jit(nogil=True, parallel=True)
def dequantize_binary_parallel(codes: NDArray[np.uint8], scales: NDArray[np.float32], d: int) -> NDArray[np.float32]:
    out = np.empty((codes.shape[0], d), dtype=np.float32)
    for r in prange(codes.shape[0]):
        _dequantize_binary_row(codes, scales, r, out)
    return out
