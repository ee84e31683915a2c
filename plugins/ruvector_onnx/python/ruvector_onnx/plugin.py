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
def ruvector_embedder(config: EmbedderConfig) -> OnnxEmbedder:
    from .embedder import OnnxEmbedder  # imports onnxruntime: only when asked for

    files = model_files(config)
    if config.precision == "fp32":  # the int8 graph with the float weights put in (made once, cached)
        from ruvector_textmodel.float_graph import with_float_weights
        from ruvector_textmodel.modelfiles.sources import cache_dir

        files = with_float_weights(files, cache_dir(config))
    return OnnxEmbedder(files, config)
