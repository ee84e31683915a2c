"""``VectorKernels`` served by numba: the Python side of ``_vector_kernels``."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

import numpy as np
from numpy.typing import NDArray

from ruvector_core.models import METRIC_CODES, Metric, QuantizationConfig, QuantizedVectors

from . import _vector_kernels as K
from ._jit import launch_lock

P = ParamSpec("P")
R = TypeVar("R")


def _call(serial: Callable[P, R], parallel: Callable[P, R], size: int, *args: P.args, **kwargs: P.kwargs) -> R:
    """The serial kernel for small inputs; the prange one (one launch at a time) otherwise."""
    if size < K.PARALLEL_MIN_ELEMENTS:
        return serial(*args, **kwargs)
    with launch_lock:
        return parallel(*args, **kwargs)


class NumbaKernels:
    """Same semantics as the numpy reference (``ruvector_core.backends.numpy_backend.kernels``)."""

    def distance(self, a: np.ndarray, b: np.ndarray, metric: Metric) -> float:
        return float(K.distance(a, b, METRIC_CODES[metric]))

    def batch_distance(self, query: np.ndarray, matrix: np.ndarray, metric: Metric) -> NDArray[np.float32]:
        return _call(K.batch_distance, K.batch_distance_parallel, matrix.size, query, matrix, METRIC_CODES[metric])

    def normalize(self, matrix: np.ndarray) -> NDArray[np.float32]:
        return _call(K.normalize, K.normalize_parallel, matrix.size, matrix)

    def quantize(self, matrix: np.ndarray, config: QuantizationConfig) -> QuantizedVectors:
        codes: NDArray[np.uint8] | NDArray[np.int8]
        if config.kind == "binary":
            codes, scales = _call(K.quantize_binary, K.quantize_binary_parallel, matrix.size, matrix)
            offsets = np.zeros(len(matrix), dtype=np.float32)
        else:
            codes, scales, offsets = _call(K.quantize_int8, K.quantize_int8_parallel, matrix.size, matrix)
        return QuantizedVectors(
            kind=config.kind, dimensions=matrix.shape[1], codes=codes, scales=scales, offsets=offsets
        )

    def dequantize(self, quantized: QuantizedVectors) -> NDArray[np.float32]:
        n, d = quantized.count, quantized.dimensions
        codes, scales = quantized.codes, quantized.scales  # consistent: QuantizedVectors validates itself
        if quantized.kind == "binary":
            return _call(K.dequantize_binary, K.dequantize_binary_parallel, n * d, codes, scales, d)
        return _call(K.dequantize_int8, K.dequantize_int8_parallel, n * d, codes, scales, quantized.offsets)
