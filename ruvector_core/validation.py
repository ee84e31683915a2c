"""Conversion and checking of user input, done once at the API boundary.

Backends receive only what passes here: C-contiguous float32 arrays of the right shape,
positive k, and string ids, so a malformed argument can never reach compiled code. Arrays
are finite too, except the inputs of pure computations (distances, searches), which are
checked through their results: backends propagate NaN, so a non-finite input shows there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import DimensionMismatchError, InvalidInputError
from .models import MAX_COMPONENT, MAX_DIMENSIONS


def as_vector(value: Any, dimensions: int | None = None, what: str = "vector") -> np.ndarray:
    array = as_vector_unchecked(value, dimensions, what)
    _check_finite(array, what)
    return array


def as_storable_vector(value: Any, dimensions: int | None = None, what: str = "vector") -> np.ndarray:
    """As ``as_vector``, and every component within ``MAX_COMPONENT``: what an index stores
    (and a query it compares with) so that no norm, dot product or distance overflows."""
    array = as_vector(value, dimensions, what)
    _check_bounded(array, what)
    return array


def as_storable_matrix(value: Any, dimensions: int | None = None, what: str = "vectors") -> np.ndarray:
    """As ``as_matrix``, with the bound of ``as_storable_vector``."""
    array = as_matrix(value, dimensions, what)
    _check_bounded(array, what)
    return array


def as_vector_unchecked(value: Any, dimensions: int | None = None, what: str = "vector") -> np.ndarray:
    """Shape and dtype as ``as_vector``, finiteness left to the caller: only for pure
    computations that reveal a non-finite input through their result (``VectorOps``,
    ``HnswIndex.search``)."""
    array = _as_float32(value, what)
    if array.ndim != 1:
        raise InvalidInputError(f"{what} must be one-dimensional, got shape {array.shape}")
    _check_width(array.shape[0], dimensions, what)
    return array


def as_matrix(value: Any, dimensions: int | None = None, what: str = "vectors") -> np.ndarray:
    array = as_matrix_unchecked(value, dimensions, what)
    _check_finite(array, what)
    return array


def as_matrix_unchecked(value: Any, dimensions: int | None = None, what: str = "vectors") -> np.ndarray:
    """Shape and dtype as ``as_matrix``, finiteness left to the caller (see ``as_vector_unchecked``)."""
    array = _as_float32(value, what)
    if array.ndim != 2:
        raise InvalidInputError(f"{what} must be two-dimensional (n, d), got shape {array.shape}")
    _check_width(array.shape[1], dimensions, what)
    return array


def check_k(k: Any) -> int:
    if type(k) is int and k > 0:  # the common case, checked first: this runs per query
        return k
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
        raise InvalidInputError(f"k must be a positive integer, got {k!r}")
    return int(k)


def check_ef(ef: Any) -> int:
    if type(ef) is int and ef > 0:  # the common case, checked first: this runs per query
        return ef
    if isinstance(ef, bool) or not isinstance(ef, (int, np.integer)) or ef <= 0:
        raise InvalidInputError(f"ef must be a positive integer, got {ef!r}")
    return int(ef)


def check_id(id: Any) -> str:
    if not isinstance(id, str) or not id:
        raise InvalidInputError(f"ids must be non-empty strings, got {id!r}")
    return id


def check_ids(ids: Sequence[Any], count: int) -> list[str]:
    if isinstance(ids, str):
        raise InvalidInputError("ids must be a sequence of strings, not one string")
    checked = [check_id(i) for i in ids]
    if len(checked) != count:
        raise InvalidInputError(f"got {len(checked)} ids for {count} vectors")
    if len(set(checked)) != len(checked):
        raise InvalidInputError("ids within one batch must be distinct")
    return checked


# numpy resolves a dtype instance faster than the scalar type (~40 ns per call, once per query)
_FLOAT32 = np.dtype(np.float32)


def _as_float32(value: Any, what: str) -> np.ndarray:
    try:
        array = np.ascontiguousarray(value, dtype=_FLOAT32)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what} must be numeric: {exc}") from None
    return array


def _check_width(width: int, dimensions: int | None, what: str) -> None:
    if dimensions is not None and width != dimensions:
        raise DimensionMismatchError(dimensions, width, what)
    if not 0 < width <= MAX_DIMENSIONS:
        raise InvalidInputError(f"{what} must have between 1 and {MAX_DIMENSIONS} components, got {width}")


def _check_finite(array: np.ndarray, what: str) -> None:
    if not finite(array):
        raise InvalidInputError(f"{what} contains NaN or infinity (or values beyond float32 range)")


def _check_bounded(array: np.ndarray, what: str) -> None:
    if array.size and float(np.abs(array).max()) > MAX_COMPONENT:
        raise InvalidInputError(
            f"{what} has components beyond {MAX_COMPONENT:.3g}, where norms and dot products overflow float32"
        )


def finite(array: np.ndarray) -> bool:
    """Whether every component is finite, at close to the cost of reading the array once.

    Any NaN or infinity makes its row's sum non-finite, so finite row sums (one BLAS
    matrix-vector product, or a dot product for a vector) prove the array finite; only when
    a sum is not finite, which finite components can also cause by overflowing (beyond
    ~1e34, or ~1e18 squared for a vector, reported by numpy as a RuntimeWarning), does the
    exact elementwise scan decide.
    """
    if array.ndim == 1:
        if math.isfinite(float(array.dot(array))):
            return True
    elif np.isfinite(array @ np.ones(array.shape[-1], dtype=array.dtype)).all():
        return True
    return bool(np.isfinite(array).all())
