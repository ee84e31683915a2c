"""The agent memory: items with metadata in namespaces, recalled by meaning, keywords or
both, filtered inside the graph, consistent across processes (``rv.Memory``)."""

from .errors import (
    IndexDamagedError,
    StoreCorruptError,
    StoreError,
    StoreNotFoundError,
    StorePathError,
    StorePermissionError,
    StoreReadOnlyError,
    StoreRepairedWarning,
)
from .files import IndexReport, index_files, split_passages
from .items import MemoryHit, MemoryItem, SearchMode
from .memory import Memory

__all__ = [
    "IndexDamagedError",
    "IndexReport",
    "Memory",
    "MemoryHit",
    "MemoryItem",
    "SearchMode",
    "StoreCorruptError",
    "StoreError",
    "StoreNotFoundError",
    "StorePathError",
    "StorePermissionError",
    "StoreReadOnlyError",
    "StoreRepairedWarning",
    "index_files",
    "split_passages",
]
