"""Distances, normalisation and quantization against float64 truth."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

import ruvector_core as rv
from ruvector_core.models import Metric

from ..data import corpus

pytestmark = pytest.mark.capability("vector_ops")

# float32 kernels accumulate rounding error over d terms; these bounds hold for any
# correct summation order (pairwise, SIMD lanes, FMA) at d <= 1024.
DISTANCE_ATOL = 1e-4
DISTANCE_RTOL = 1e-4
ODD_DIMENSIONS = (1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 384, 1000)


def _truth(query: np.ndarray, matrix: np.ndarray, metric: Metric) -> NDArray[np.float64]:
    q = query.astype(np.float64)
    m = matrix.astype(np.float64)
    if metric == "euclidean":
        squared: NDArray[np.float64] = ((m - q) ** 2).sum(1)
        return np.sqrt(squared)
    if metric == "dot":
        return -(m @ q)
    norms: NDArray[np.float64] = np.linalg.norm(m, axis=1) * np.linalg.norm(q)
    return 1.0 - (m @ q) / norms


def _assert_close(got: np.ndarray, want: np.ndarray) -> None:
    scale = np.maximum(np.abs(want), 1.0)
    error = np.abs(np.asarray(got, dtype=np.float64) - want)
    assert np.all(error <= DISTANCE_ATOL + DISTANCE_RTOL * scale), f"max error {error.max():.3g}"


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot"])
def test_distances(runtime: rv.Runtime, metric: Metric) -> None:
    ops = runtime.vector_ops
    rng = np.random.default_rng(7)
    data = corpus()
    scaled = data.base[:500] * rng.uniform(0.1, 10.0, size=(500, 1)).astype(np.float32)
    for query in (data.queries[0], data.queries[1] * 3.0):
        batch = ops.batch_distance(query, scaled, metric)
        assert batch.shape == (500,)
        _assert_close(batch, _truth(query, scaled, metric))
        singles = np.array([ops.distance(query, row, metric) for row in scaled[:50]])
        _assert_close(singles, _truth(query, scaled[:50], metric))
    for d in ODD_DIMENSIONS:  # every SIMD tail length
        matrix = rng.standard_normal((20, d)).astype(np.float32)
        query = rng.standard_normal(d).astype(np.float32)
        _assert_close(ops.batch_distance(query, matrix, metric), _truth(query, matrix, metric))
        _assert_close(np.array([ops.distance(query, matrix[3], metric)]), _truth(query, matrix[3:4], metric))


def test_normalize(runtime: rv.Runtime) -> None:
    ops = runtime.vector_ops
    rng = np.random.default_rng(3)
    matrix = rng.standard_normal((64, 384)).astype(np.float32) * 5.0
    matrix[5] = 0.0
    unit = ops.normalize(matrix)
    norms = np.linalg.norm(unit.astype(np.float64), axis=1)
    assert np.allclose(np.delete(norms, 5), 1.0, atol=1e-5)
    assert np.all(unit[5] == 0.0), "a zero vector must stay zero"
    cosines = (unit.astype(np.float64) * matrix).sum(1) / np.maximum(np.linalg.norm(matrix, axis=1), 1e-30)
    assert np.allclose(np.delete(cosines, 5), 1.0, atol=1e-5), "direction must be kept"
    single = ops.normalize(matrix[0])
    assert single.shape == (384,) and np.allclose(single, unit[0], atol=1e-6)


def test_int8_quantization(runtime: rv.Runtime) -> None:
    """Each component comes back within half a quantization step of the original."""
    ops = runtime.vector_ops
    rng = np.random.default_rng(5)
    matrix = np.vstack([corpus().base[:200], rng.standard_normal((20, 384)).astype(np.float32) * 40.0])
    matrix[0] = 0.25  # a constant row has zero range
    q = ops.quantize(matrix, rv.QuantizationConfig(kind="int8"))
    assert q.kind == "int8" and q.codes.dtype == np.int8 and q.codes.shape == matrix.shape
    assert q.nbytes <= matrix.nbytes / 4 + 8 * len(matrix) + 64
    restored = ops.dequantize(q)
    assert restored.shape == matrix.shape and restored.dtype == np.float32
    step = (matrix.max(axis=1).astype(np.float64) - matrix.min(axis=1)) / 255.0
    bound = step[:, None] / 2.0 + 1e-6 * np.maximum(np.abs(matrix), 1.0)
    error = np.abs(restored.astype(np.float64) - matrix)
    assert np.all(error <= bound), f"worst excess {np.max(error - bound):.3g}"


def test_binary_quantization(runtime: rv.Runtime) -> None:
    """Signs survive exactly; codes take one bit per component."""
    ops = runtime.vector_ops
    matrix = corpus().base[:300, :381]  # a width that is not a multiple of 8
    q = ops.quantize(matrix, rv.QuantizationConfig(kind="binary"))
    assert q.kind == "binary" and q.codes.dtype == np.uint8 and q.codes.shape == (300, 48)
    restored = ops.dequantize(q)
    assert restored.shape == matrix.shape
    nonzero = matrix != 0
    assert np.all(np.sign(restored[nonzero]) == np.sign(matrix[nonzero]))
    assert np.allclose(np.abs(restored), np.abs(matrix).mean(axis=1, keepdims=True), rtol=1e-5)


def test_vector_ops_bad_input(runtime: rv.Runtime) -> None:
    ops = runtime.vector_ops
    good = np.ones(8, dtype=np.float32)
    with pytest.raises(rv.DimensionMismatchError):
        ops.distance(good, np.ones(9, dtype=np.float32))
    with pytest.raises(rv.DimensionMismatchError):
        ops.batch_distance(good, np.ones((3, 7), dtype=np.float32))
    for bad in (np.nan, np.inf, -np.inf):
        broken = good.copy()
        broken[2] = bad
        with pytest.raises(rv.InvalidInputError):
            ops.distance(good, broken)
        with pytest.raises(rv.InvalidInputError):
            ops.quantize(broken[None, :])
    with pytest.raises(rv.InvalidInputError):
        ops.distance(good, good, metric="manhattan")  # type: ignore[arg-type]  # deliberately not a Metric
    matrix = corpus().base[:64].copy()
    for metric in ("cosine", "euclidean", "dot"):  # the core relies on NaN reaching the result
        for bad in (np.nan, np.inf, -np.inf):
            broken = matrix.copy()
            broken[17, 5] = bad
            with pytest.raises(rv.InvalidInputError):
                ops.batch_distance(matrix[0], broken, metric)
        zero_query = np.zeros(384, dtype=np.float32)
        zero_query[5] = 0.0
        broken = matrix.copy()
        broken[3, 9] = np.inf  # inf * 0 is NaN: still detected
        with pytest.raises(rv.InvalidInputError):
            ops.batch_distance(zero_query, broken, metric)
    with pytest.raises(rv.InvalidInputError):
        ops.distance(good, ["a"] * 8)
