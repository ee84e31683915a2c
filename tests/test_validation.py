"""Boundary checks: what reaches a backend is finite float32 of the right shape."""

import numpy as np
import pytest

import ruvector_core as rv
from ruvector_core.validation import as_matrix, as_vector


@pytest.mark.filterwarnings("ignore:overflow encountered in dot")  # the fast path's, by design
def test_huge_but_finite_values_pass_even_when_their_square_overflows() -> None:
    vector = np.full(384, 1e20, dtype=np.float32)  # x.x overflows float32; x itself is fine
    assert as_vector(vector, 384) is not None
    assert as_matrix(vector[None, :], 384).shape == (1, 384)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")  # 1e39 -> float32 inf
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e39])
def test_non_finite_components_are_refused(bad: float) -> None:
    vector = np.ones(384, dtype=np.float64)
    vector[200] = bad  # 1e39 becomes inf in float32
    with pytest.raises(rv.InvalidInputError, match="NaN or infinity"):
        as_vector(vector, 384)
    with pytest.raises(rv.InvalidInputError, match="NaN or infinity"):
        as_matrix(vector[None, :], 384)


def test_conversion_and_shape() -> None:
    converted = as_vector([1, 2, 3], 3)
    assert converted.dtype == np.float32 and converted.flags.c_contiguous
    strided = np.arange(12, dtype=np.float64).reshape(3, 4)[:, 1]
    assert as_vector(strided, 3).flags.c_contiguous
    with pytest.raises(rv.DimensionMismatchError):
        as_vector([1.0, 2.0], 3)
    with pytest.raises(rv.InvalidInputError, match="one-dimensional"):
        as_vector([[1.0]], 1)
    with pytest.raises(rv.InvalidInputError, match="numeric"):
        as_vector(["a", "b"])
