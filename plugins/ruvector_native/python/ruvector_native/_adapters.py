"""The objects the native backend serves: the extension's index and kernels in the core's terms.

The compiled extension (``_native``) trades in plain values and knows nothing of the core;
this module adds what the core's protocols ask for beyond that: the ``HnswConfig`` an
index was made with, the ``IndexStats`` and ``QuantizedVectors`` models, the backend's
name, and the core's errors in place of the extension's (``core_errors``).

The calls the facades make per query or per pair of vectors (``search``,
``search_batch``, ``distance``, ``batch_distance``, ``normalize``) reach the extension's
methods directly: a Python frame around them would cost a noticeable share of a search,
and the facades never pass them input the extension refuses.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, Self, TypeVar

import numpy as np

from ruvector_core.errors import CorruptIndexError, InvalidInputError, ModelError, RuvectorError
from ruvector_core.models import METRIC_CODES, HnswConfig, IndexStats, QuantizationConfig, QuantizedVectors

from . import SPEC, _native

P = ParamSpec("P")
R = TypeVar("R")

#: The core's error for each of the extension's; the message carries over unchanged.
CORE_ERRORS: dict[type[ValueError], type[RuvectorError]] = {
    _native.InvalidInput: InvalidInputError,
    _native.CorruptIndex: CorruptIndexError,
    _native.BadModel: ModelError,
}
_NATIVE_ERRORS = tuple(CORE_ERRORS)


def core_errors(call: Callable[P, R]) -> Callable[P, R]:
    """``call``, raising the core's error wherever the extension raises its own.

    Callers catch ruvector's hierarchy (``InvalidInputError``, ``CorruptIndexError``), and
    the extension cannot name it without importing the core; this is the one place where
    one becomes the other.
    """

    @functools.wraps(call)
    def mapped(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return call(*args, **kwargs)
        except _NATIVE_ERRORS as exc:
            raise CORE_ERRORS[type(exc)](*exc.args) from None

    return mapped


class NativeHnsw(_native.Hnsw):
    """The ``HnswGraph`` of the native backend: the extension's index and its ``HnswConfig``."""

    __slots__ = ("config",)
    config: HnswConfig

    @core_errors
    def __new__(cls, config: HnswConfig, data: bytes | None = None) -> Self:
        """An empty index for ``config`` or, given ``data``, the index those bytes encode
        (whose header must declare ``config``)."""
        graph = super().__new__(
            cls,
            config.dimensions,
            config.m,
            config.ef_construction,
            config.ef_search,
            METRIC_CODES[config.metric],
            config.seed,
            data,
            config.storage,
            config.floats,
        )
        graph.config = config
        return graph

    @core_errors
    def insert_batch(self, ids: list[str], vectors: np.ndarray) -> None:
        """As the extension's, which refuses a batch that would take the index past its limits."""
        super().insert_batch(ids, vectors)

    def stats(self) -> IndexStats:
        count, deleted, max_level, nodes_per_level, memory_bytes = self.graph_stats()
        config = self.config
        return IndexStats(
            backend=SPEC.name,
            dimensions=config.dimensions,
            metric=config.metric,
            m=config.m,
            ef_construction=config.ef_construction,
            ef_search=config.ef_search,
            count=count,
            deleted=deleted,
            max_level=max_level,
            nodes_per_level=nodes_per_level,
            memory_bytes=memory_bytes,
        )


class NativeKernels(_native.Kernels):
    """The ``VectorKernels`` of the native backend: the extension's kernels, with
    quantization results in the core's ``QuantizedVectors``."""

    @core_errors
    def quantize(self, matrix: np.ndarray, config: QuantizationConfig) -> QuantizedVectors:
        codes: np.ndarray  # int8 or uint8
        if config.kind == "binary":
            codes, scales = self.quantize_binary(matrix)
            offsets = np.zeros(len(matrix), dtype=np.float32)
        else:
            codes, scales, offsets = self.quantize_int8(matrix)
        return QuantizedVectors(
            kind=config.kind, dimensions=matrix.shape[1], codes=codes, scales=scales, offsets=offsets
        )

    @core_errors
    def dequantize(self, quantized: QuantizedVectors) -> np.ndarray:
        """``QuantizedVectors`` has checked its arrays' dtypes, shapes and layout, so they go
        to the extension as they are."""
        if quantized.kind == "binary":
            return self.dequantize_binary(quantized.codes, quantized.dimensions, quantized.scales)
        return self.dequantize_int8(quantized.codes, quantized.scales, quantized.offsets)
