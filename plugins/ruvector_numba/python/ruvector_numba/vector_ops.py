"""``VectorKernels`` served by numba: the Python side of ``_vector_kernels``."""

from __future__ import annotations

import numpy as np

from ruvector_core.models import METRIC_CODES, Metric, QuantizationConfig, QuantizedVectors

from . import _vector_kernels as K
from ._jit import launch_lock


def _call(serial, parallel, size: int, *args):
    """The serial kernel for small inputs; the prange one (one launch at a time) otherwise."""
    if size < K.PARALLEL_MIN_ELEMENTS:
        return serial(*args)
    with launch_lock:
        return parallel(*args)


class NumbaKernels:
    """Same semantics as the numpy reference (``ruvector_core...numpy_backend.kernels``)."""

    def distance(self, a: np.ndarray, b: np.ndarray, metric: Metric) -> float:
        return float(K.distance(a, b, METRIC_CODES[metric]))

    def batch_distance(self, query: np.ndarray, matrix: np.ndarray, metric: Metric) -> np.ndarray:
        return _call(K.batch_distance, K.batch_distance_parallel, matrix.size, query, matrix, METRIC_CODES[metric])

    def normalize(self, matrix: np.ndarray) -> np.ndarray:
        return _call(K.normalize, K.normalize_parallel, matrix.size, matrix)

    def quantize(self, matrix: np.ndarray, config: QuantizationConfig) -> QuantizedVectors:
        if config.kind == "binary":
            codes, scales = _call(K.quantize_binary, K.quantize_binary_parallel, matrix.size, matrix)
            offsets = np.zeros(len(matrix), dtype=np.float32)
        else:
            codes, scales, offsets = _call(K.quantize_int8, K.quantize_int8_parallel, matrix.size, matrix)
        return QuantizedVectors(
            kind=config.kind, dimensions=matrix.shape[1], codes=codes, scales=scales, offsets=offsets
        )

    def dequantize(self, quantized: QuantizedVectors) -> np.ndarray:
        n, d = quantized.count, quantized.dimensions
        codes, scales = quantized.codes, quantized.scales  # consistent: QuantizedVectors validates itself
        if quantized.kind == "binary":
            return _call(K.dequantize_binary, K.dequantize_binary_parallel, n * d, codes, scales, d)
        return _call(K.dequantize_int8, K.dequantize_int8_parallel, n * d, codes, scales, quantized.offsets)
