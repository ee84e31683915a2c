"""Hook implementations of the wasm backend.

Importing this module imports wasmtime and compiles the bundled ``ruvector.wasm`` once,
checking it against the ABI the host was built for; if any of it fails (no wasmtime wheel
for this platform, a damaged or mismatched module file) the backend reports itself unusable
with the reason instead of breaking the runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ruvector_core.hookspecs import hookimpl
from ruvector_core.models import BackendInfo, EmbedderConfig, HnswConfig

from . import SPEC

if TYPE_CHECKING:
    from ruvector_textmodel.packed import PackedEmbedder

try:
    from ._hnsw import WasmHnsw
    from ._host import shared
    from ._kernels import WasmKernels

    shared()  # compile the module now: a broken file or engine is a probe failure
except Exception as exc:  # pragma: no cover - exercised only where wasmtime cannot run
    _START_ERROR: str | None = f"{type(exc).__name__}: {exc}"
else:
    _START_ERROR = None


@hookimpl
def ruvector_backend_info() -> BackendInfo:
    return BackendInfo.from_spec(SPEC, _START_ERROR)


@hookimpl
def ruvector_vector_ops() -> WasmKernels | None:
    return WasmKernels() if _START_ERROR is None else None


@hookimpl
def ruvector_hnsw_index(config: HnswConfig) -> WasmHnsw | None:
    return WasmHnsw(config) if _START_ERROR is None else None


@hookimpl
def ruvector_hnsw_load(data: bytes, config: HnswConfig) -> WasmHnsw | None:
    return WasmHnsw.load(data, config) if _START_ERROR is None else None


@hookimpl
def ruvector_embedder(config: EmbedderConfig) -> PackedEmbedder | None:
    from ._embedder import wasm_embedder  # imports tokenizers and the model files: only when asked for

    return wasm_embedder(config) if _START_ERROR is None else None
