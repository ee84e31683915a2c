"""Hook implementations of the ONNX Runtime embeddings backend."""

from __future__ import annotations

from importlib.util import find_spec
from typing import TYPE_CHECKING

from ruvector_core.hookspecs import hookimpl
from ruvector_core.models import BackendInfo, EmbedderConfig
from ruvector_textmodel.modelfiles import model_files

from . import SPEC

if TYPE_CHECKING:
    from .embedder import OnnxEmbedder


@hookimpl
def ruvector_backend_info() -> BackendInfo:
    missing = [name for name in ("onnxruntime", "tokenizers") if find_spec(name) is None]
    reason = f"{' and '.join(missing)} not installed: pip install 'ruvec[embeddings]'" if missing else None
    return BackendInfo.from_spec(SPEC, reason)


@hookimpl
def ruvector_embedder(config: EmbedderConfig) -> OnnxEmbedder | None:
    from .embedder import OnnxEmbedder  # imports onnxruntime: only when asked for

    if config.precision != "int8":  # the pinned ONNX file holds int8 weights; the native and wasm backends run fp32
        return None
    return OnnxEmbedder(model_files(config), config)
