"""The agent memory: items with metadata in namespaces, recalled by meaning, keywords or
both, filtered inside the graph, consistent across processes (``rv.Memory``)."""

from .files import IndexReport, Skipped, index_files
from .items import MemoryHit, MemoryItem, SearchMode
from .memory import Memory
from .passages import Passage, split_passages
from .storage import StoreError

__all__ = [
    "IndexReport",
    "Memory",
    "MemoryHit",
    "MemoryItem",
    "Passage",
    "SearchMode",
    "Skipped",
    "StoreError",
    "index_files",
    "split_passages",
]
