"""The agent memory: items with metadata in namespaces, recalled by meaning, keywords or
both, filtered inside the graph, consistent across processes (``rv.Memory``, and ``rv.AsyncMemory`` for asyncio)."""

from .asyncmemory import AsyncMemory
from .files import IndexReport, index_files, split_passages
from .items import MemoryHit, MemoryItem, SearchMode
from .memory import Memory
from .storage import StoreError

__all__ = [
    "AsyncMemory",
    "IndexReport",
    "Memory",
    "MemoryHit",
    "MemoryItem",
    "SearchMode",
    "StoreError",
    "index_files",
    "split_passages",
]
