"""Hook specifications of the ``ruvector`` pluggy project.

A backend is a module of hook implementations (``@ruvector_core.hookimpl``) named by the
``plugin`` field of the ``BackendSpec`` its ``ruvector.backends`` entry point declares.
Capability hooks are ``firstresult``: a backend that cannot serve one particular request
(a metric it lacks, a dimension it cannot handle) returns ``None`` and the next backend in
priority order serves it. Arguments arrive validated: vectors are finite, C-contiguous
float32 arrays of the right shape, so implementations never re-check them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .models import BackendInfo, EmbedderConfig, HnswConfig
    from .protocols import Embedder, HnswGraph, LearningKernels, VectorKernels

PROJECT_NAME = "ruvector"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def ruvector_backend_info() -> BackendInfo:
    """Describe this backend and whether it can run here; say why not if it cannot.

    Called once, right after the plugin module is imported; a probe that raises makes the
    backend unusable with the exception as its reason.
    """


@hookspec(firstresult=True)
def ruvector_vector_ops() -> VectorKernels | None:
    """Return the distance, normalisation and quantization kernels."""


@hookspec(firstresult=True)
def ruvector_hnsw_index(config: HnswConfig) -> HnswGraph | None:
    """Return a new, empty HNSW index for ``config``, or None to let the next backend serve."""


@hookspec(firstresult=True)
def ruvector_hnsw_load(data: bytes, config: HnswConfig) -> HnswGraph | None:
    """Rebuild an index from bytes in the format of docs/format.md.

    ``config`` is what the header declares. The implementation must validate every length,
    offset and link before use and raise ``CorruptIndexError`` on anything wrong.
    """


@hookspec(firstresult=True)
def ruvector_embedder(config: EmbedderConfig) -> Embedder | None:
    """Return a text embedder for ``config``, or None when this backend cannot load it."""


@hookspec(firstresult=True)
def ruvector_learning() -> LearningKernels | None:
    """Return the learning kernels (pattern similarity, the LoRA gradient)."""
