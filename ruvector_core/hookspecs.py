"""Hook specifications of the ``ruvector`` pluggy project.

A backend is a module of hook implementations (``@ruvector_core.hookimpl``) named by the
``plugin`` field of the ``BackendSpec`` its ``ruvector.backends`` entry point declares.

The runtime calls one backend's hook at a time, in its own priority order (see
``ruvector_core.runtime``): a backend that cannot serve one particular request (a metric it
lacks, a dimension it cannot handle) returns ``None``, and one that raises anything but a
``RuvectorError`` is logged; either way the next backend serves it. The object a capability
hook returns must have that capability's protocol (``ruvector_core.protocols``), or the
runtime passes over it.

What implementations receive is checked once, by the core's facades, and never needs
re-checking: configs are validated pydantic models; vectors and matrices are C-contiguous
float32 arrays of the declared shape; ids are non-empty strings, distinct within a batch;
``k`` and ``ef`` are positive ints with ``ef >= k``. Vectors written into an index are
finite. The inputs of pure computations (distances, searches) may hold NaN or infinity:
the core detects those through the result, so implementations must propagate them
(a NaN component gives a NaN distance or score, never a silently finite one); the
conformance suite checks that they do.
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
    raise NotImplementedError  # a specification: pluggy calls the backends' implementations


@hookspec
def ruvector_vector_ops() -> VectorKernels | None:
    """Return the distance, normalisation and quantization kernels."""


@hookspec
def ruvector_hnsw_index(config: HnswConfig) -> HnswGraph | None:
    """Return a new, empty HNSW index for ``config``, or None to let the next backend serve."""


@hookspec
def ruvector_hnsw_load(data: bytes, config: HnswConfig) -> HnswGraph | None:
    """Rebuild an index from bytes in the format of docs/format.md.

    ``config`` is what the header declares (already parsed and range-checked); the rest of
    ``data`` is not checked: the implementation must validate every length, offset and
    link before use and raise ``CorruptIndexError`` on anything wrong.
    """


@hookspec
def ruvector_embedder(config: EmbedderConfig) -> Embedder | None:
    """Return a text embedder for ``config``, or None when this backend cannot load it."""


@hookspec
def ruvector_learning() -> LearningKernels | None:
    """Return the learning kernels (pattern similarity, the LoRA gradient)."""
