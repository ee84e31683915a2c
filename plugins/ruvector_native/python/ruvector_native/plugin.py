"""Hook implementations of the native backend.

Importing this module imports the compiled extension; if that fails (no wheel for this
platform, ABI mismatch) the backend reports itself unusable with the reason instead of
breaking the runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ruvector_core.hookspecs import hookimpl
from ruvector_core.models import BackendInfo, EmbedderConfig, HnswConfig

from . import SPEC

if TYPE_CHECKING:
    from ruvector_textmodel.packed import PackedEmbedder

try:
    from ._adapters import NativeHnsw, NativeKernels
except ImportError as exc:  # pragma: no cover - exercised only without a built extension
    _IMPORT_ERROR: str | None = f"the compiled extension ruvector_native._native failed to import: {exc}"
else:
    _IMPORT_ERROR = None


@hookimpl
def ruvector_backend_info() -> BackendInfo:
    return BackendInfo.from_spec(SPEC, _IMPORT_ERROR)


@hookimpl
def ruvector_vector_ops() -> NativeKernels | None:
    return NativeKernels() if _IMPORT_ERROR is None else None


@hookimpl
def ruvector_hnsw_index(config: HnswConfig) -> NativeHnsw | None:
    return NativeHnsw(config) if _IMPORT_ERROR is None else None


@hookimpl
def ruvector_hnsw_load(data: bytes, config: HnswConfig) -> NativeHnsw | None:
    return NativeHnsw(config, data) if _IMPORT_ERROR is None else None


@hookimpl
def ruvector_embedder(config: EmbedderConfig) -> PackedEmbedder | None:
    from ._embedder import native_embedder  # imports tokenizers and the model files: only when asked for

    return native_embedder(config) if _IMPORT_ERROR is None else None
