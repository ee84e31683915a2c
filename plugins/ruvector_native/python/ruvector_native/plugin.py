"""Hook implementations of the native backend.

Importing this module imports the compiled extension; if that fails (no wheel for this
platform, ABI mismatch) the backend reports itself unusable with the reason instead of
breaking the runtime.
"""

from __future__ import annotations

import numpy as np

from ruvector_core.errors import InvalidInputError
from ruvector_core.hookspecs import hookimpl
from ruvector_core.models import BackendInfo, HnswConfig, QuantizationConfig, QuantizedVectors

from . import SPEC

try:
    from . import _native
except ImportError as exc:  # pragma: no cover - exercised only without a built extension
    _native = None
    _IMPORT_ERROR: str | None = f"the compiled extension ruvector_native._native failed to import: {exc}"
else:
    _IMPORT_ERROR = None


if _native is not None:

    class NativeKernels(_native.Kernels):
        """Rust distance kernels; quantization results wrapped in the core's model."""

        def quantize(self, matrix: np.ndarray, config: QuantizationConfig) -> QuantizedVectors:
            if config.kind == "binary":
                codes, scales = self.quantize_binary(matrix)
                offsets = np.zeros(len(matrix), dtype=np.float32)
            else:
                codes, scales, offsets = self.quantize_int8(matrix)
            return QuantizedVectors(
                kind=config.kind, dimensions=matrix.shape[1], codes=codes, scales=scales, offsets=offsets
            )

        def dequantize(self, quantized: QuantizedVectors) -> np.ndarray:
            scales = np.ascontiguousarray(quantized.scales, dtype=np.float32).reshape(-1)
            if quantized.kind == "binary":
                codes = np.ascontiguousarray(quantized.codes, dtype=np.uint8)
                if codes.ndim != 2:
                    raise InvalidInputError("binary codes must be a 2-d uint8 array")
                return self.dequantize_binary(codes, quantized.dimensions, scales)
            codes = np.ascontiguousarray(quantized.codes, dtype=np.int8)
            if codes.ndim != 2 or codes.shape[1] != quantized.dimensions:
                raise InvalidInputError("int8 codes must be a 2-d array of the declared width")
            offsets = np.ascontiguousarray(quantized.offsets, dtype=np.float32).reshape(-1)
            return self.dequantize_int8(codes, scales, offsets)


@hookimpl
def ruvector_backend_info() -> BackendInfo:
    return BackendInfo.from_spec(SPEC, _IMPORT_ERROR)


@hookimpl
def ruvector_vector_ops() -> NativeKernels | None:
    return NativeKernels() if _native is not None else None


@hookimpl
def ruvector_hnsw_index(config: HnswConfig):  # -> _native.NativeHnsw | None
    return _native.NativeHnsw(config) if _native is not None else None


@hookimpl
def ruvector_hnsw_load(data: bytes, config: HnswConfig):  # -> _native.NativeHnsw | None
    return _native.load(data, config) if _native is not None else None
