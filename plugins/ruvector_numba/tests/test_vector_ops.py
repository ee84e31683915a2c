"""Vector kernels: bit-for-bit agreement with the reference where the arithmetic allows it,
and the serial and parallel drivers agreeing with each other."""

from __future__ import annotations

import numpy as np
import pytest

import ruvector_core as rv
from ruvector_numba import _vector_kernels as K

NUMBA = rv.Runtime(backend="numba").vector_ops
NUMPY = rv.Runtime(backend="numpy").vector_ops


def _matrix(rows: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((rows, d)).astype(np.float32) * rng.uniform(0.1, 50, (rows, 1)).astype(np.float32)
    matrix[0] = 0.5  # a constant row (zero range)
    matrix[1] = 0.0
    return matrix


@pytest.mark.parametrize("kind", ["int8", "binary"])
@pytest.mark.parametrize("shape", [(5, 3), (300, 383), (1200, 384)])  # the last one runs in parallel
def test_quantization_is_bit_identical_to_the_reference(kind: str, shape: tuple[int, int]) -> None:
    matrix = _matrix(*shape)
    config = rv.QuantizationConfig(kind=kind)
    mine, reference = NUMBA.quantize(matrix, config), NUMPY.quantize(matrix, config)
    assert mine.codes.dtype == reference.codes.dtype and np.array_equal(mine.codes, reference.codes)
    assert np.array_equal(mine.offsets, reference.offsets)
    assert np.allclose(mine.scales, reference.scales, rtol=1e-6, atol=0)
    assert np.array_equal(NUMBA.dequantize(reference), NUMPY.dequantize(reference))


def test_serial_and_parallel_drivers_agree() -> None:
    matrix = _matrix(1000, 384, seed=2)
    assert matrix.size >= K.PARALLEL_MIN_ELEMENTS
    query = matrix[7]
    for metric in range(3):
        assert np.array_equal(K.batch_distance(query, matrix, metric), K.batch_distance_parallel(query, matrix, metric))
    assert np.array_equal(K.normalize(matrix), K.normalize_parallel(matrix))
    for a, b in zip(K.quantize_int8(matrix), K.quantize_int8_parallel(matrix), strict=True):
        assert np.array_equal(a, b)
    for a, b in zip(K.quantize_binary(matrix), K.quantize_binary_parallel(matrix), strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot"])
def test_zero_vectors(metric: str) -> None:
    zero = np.zeros(16, dtype=np.float32)
    other = np.arange(16, dtype=np.float32)
    assert NUMBA.distance(zero, other, metric) == pytest.approx(NUMPY.distance(zero, other, metric))
    assert NUMBA.batch_distance(zero, other[None, :], metric)[0] == pytest.approx(
        NUMPY.batch_distance(zero, other[None, :], metric)[0]
    )
