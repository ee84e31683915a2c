"""Hook implementations of the ONNX Runtime embeddings backend."""

from __future__ import annotations

from importlib.util import find_spec
from typing import TYPE_CHECKING

from ruvector_core.errors import ModelError, RuvectorError
from ruvector_core.hookspecs import hookimpl
from ruvector_core.models import BackendInfo, EmbedderConfig

from . import SPEC
from ruvector_textmodel.modelfiles import resolve

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

    try:
        files = resolve(config)
    except RuvectorError:
        raise
    except (OSError, ValueError) as exc:  # a file system or a name that defeats the cache: still the model's
        raise ModelError(f"model {config.model!r}: its files could not be got ready ({exc})") from exc
    return OnnxEmbedder(files, config)
