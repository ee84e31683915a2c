"""ruvector: AI-agent memory for Python with pluggable compute backends.

import ruvector_core as rv
rt = rv.Runtime.initialize()
ix = rt.hnsw(rv.HnswConfig(dimensions=384))
"""
# ruff: noqa: E402  (the origin check runs before anything else is imported)

# First: fail plainly when these files are mixed with another project's ruvector_core.
from .origin import require_own_core

require_own_core()

# The layers above the contract that the package root offers (see docs/architecture.md).
from typing import TYPE_CHECKING, Any

from . import learning as learning  # registers what ``rt.learning`` hands out
from .embedder import Embedder
from .errors import (
    BackendError,
    BackendFailedError,
    BackendUnavailableError,
    CapabilityUnavailableError,
    ConflictingInstallError,
    CorruptDataError,
    CorruptIndexError,
    DimensionMismatchError,
    InvalidInputError,
    ModelDownloadError,
    ModelError,
    ModelIntegrityError,
    ModelNotFoundError,
    RuvectorError,
    UnknownIdError,
)
from .hnsw_index import AllowList, HnswIndex, SearchHits
from .hookspecs import hookimpl
from .models import (
    BackendInfo,
    BackendSpec,
    EmbedderConfig,
    HnswConfig,
    IndexStats,
    QuantizationConfig,
    QuantizedVectors,
    SearchResult,
)
from .runtime import Runtime
from .vector_ops import VectorOps
from .version import __version__

__all__ = [
    "AllowList",
    "AsyncMemory",
    "BackendError",
    "BackendInfo",
    "BackendSpec",
    "BackendUnavailableError",
    "BackendFailedError",
    "CapabilityUnavailableError",
    "ConflictingInstallError",
    "CorruptDataError",
    "CorruptIndexError",
    "DimensionMismatchError",
    "EmbedderConfig",
    "HnswConfig",
    "HnswIndex",
    "IndexStats",
    "InvalidInputError",
    "Memory",
    "MemoryHit",
    "MemoryItem",
    "ModelDownloadError",
    "ModelError",
    "ModelIntegrityError",
    "ModelNotFoundError",
    "Embedder",
    "QuantizationConfig",
    "QuantizedVectors",
    "Runtime",
    "RuvectorError",
    "SearchHits",
    "SearchResult",
    "UnknownIdError",
    "VectorOps",
    "__version__",
    "hookimpl",
]

if TYPE_CHECKING:
    from .memory import AsyncMemory, Memory, MemoryHit, MemoryItem

_MEMORY_NAMES = frozenset({"AsyncMemory", "Memory", "MemoryHit", "MemoryItem"})


def __getattr__(name: str) -> Any:
    """``rv.Memory``, ``rv.AsyncMemory`` and their records, imported on first use: the memory pulls in SQLite,
    file locks and rich, which a process that only searches vectors never needs."""
    if name in _MEMORY_NAMES:
        from . import memory

        return getattr(memory, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
