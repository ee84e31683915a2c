"""``rt.vector_ops``: distances, normalisation and quantization with checked inputs."""

from __future__ import annotations

import math
from typing import Any, get_args

import numpy as np

from .errors import InvalidInputError
from .models import Metric, QuantizationConfig, QuantizedVectors
from .protocols import VectorKernels
from .validation import as_matrix, as_matrix_unchecked, as_vector, as_vector_unchecked

_METRICS = get_args(Metric)


class VectorOps:
    """Distances here are dissimilarities, lower is closer: ``1 - cos`` for cosine, the L2
    distance for euclidean and ``-a.b`` for dot (so ``score = -distance`` for dot and
    euclidean, ``1 - distance`` for cosine)."""

    def __init__(self, kernels: VectorKernels, backend: str) -> None:
        self._kernels = kernels
        self.backend = backend

    def distance(self, a: Any, b: Any, metric: Metric = "cosine") -> float:
        """One distance. NaN and infinity are detected through the result, as in
        ``batch_distance``: a separate scan of both vectors would cost more than the kernel."""
        a = as_vector_unchecked(a, what="a")
        b = as_vector_unchecked(b, a.shape[0], what="b")
        result = self._kernels.distance(a, b, _check_metric(metric))
        if not math.isfinite(result):
            as_vector(a, what="a"), as_vector(b, what="b")  # raise unless it was an overflow
        return result

    def batch_distance(self, query: Any, matrix: Any, metric: Metric = "cosine") -> np.ndarray:
        """Distances from ``query`` to every row, float32 of shape (n,).

        The matrix is checked for NaN and infinity through the result: a separate scan would
        read it from memory a second time and double the cost of this memory-bound call,
        while a non-finite component always makes its row's distance non-finite (backends
        propagate NaN; the conformance suite checks that they do). A distance is pure
        arithmetic, so nothing has changed when the exact check then raises."""
        query = as_vector(query, what="query")
        rows = as_matrix_unchecked(matrix, query.shape[0], what="matrix")
        distances = self._kernels.batch_distance(query, rows, _check_metric(metric))
        if not np.isfinite(distances).all():
            as_matrix(rows, what="matrix")  # raises unless only an overflow made it non-finite
        return distances

    def normalize(self, vectors: Any) -> np.ndarray:
        """Unit L2 norm per row (or for the one vector given); zero vectors stay zero."""
        array = np.asarray(vectors)
        if array.ndim == 1:
            row: np.ndarray = self._kernels.normalize(as_vector(array)[None, :])[0]
            return row
        return self._kernels.normalize(as_matrix(array))

    def quantize(self, vectors: Any, config: QuantizationConfig | None = None) -> QuantizedVectors:
        return self._kernels.quantize(as_matrix(np.atleast_2d(vectors)), config or QuantizationConfig())

    def dequantize(self, quantized: QuantizedVectors) -> np.ndarray:
        if not isinstance(quantized, QuantizedVectors):
            raise InvalidInputError("dequantize takes the QuantizedVectors that quantize returned")
        return self._kernels.dequantize(quantized)


def _check_metric(metric: Any) -> Metric:
    if metric not in _METRICS:
        raise InvalidInputError(f"metric must be one of {', '.join(_METRICS)}, got {metric!r}")
    checked: Metric = metric
    return checked
