"""The agent memory: items with metadata in namespaces, recalled by meaning, keywords or
both, filtered inside the graph, consistent across processes (``rv.Memory``, and
``rv.AsyncMemory`` for asyncio)."""

from .adapters import AdapterInfo
from .asyncmemory import AsyncMemory
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
from .feedback import FeedbackEvent
from .files import IndexReport, Skipped, index_files
from .items import MemoryHit, MemoryItem, SearchMode
from .learner import LearnConfig, LearnReport, RecallFigures
from .memory import Memory
from .passages import Passage, split_passages

__all__ = [
    "AdapterInfo",
    "AsyncMemory",
    "FeedbackEvent",
    "IndexDamagedError",
    "IndexReport",
    "LearnConfig",
    "LearnReport",
    "Memory",
    "MemoryHit",
    "MemoryItem",
    "Passage",
    "RecallFigures",
    "SearchMode",
    "Skipped",
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
