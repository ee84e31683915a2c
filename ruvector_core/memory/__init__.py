"""The agent memory: items with metadata in namespaces, recalled by meaning, keywords or
both, filtered inside the graph, consistent across processes (``rv.Memory``)."""

from .adapters import AdapterInfo
from .feedback import FeedbackEvent
from .files import IndexReport, index_files, split_passages
from .items import MemoryHit, MemoryItem, SearchMode
from .learner import LearnConfig, LearnReport, RecallFigures
from .memory import Memory
from .storage import StoreError

__all__ = [
    "AdapterInfo",
    "FeedbackEvent",
    "IndexReport",
    "LearnConfig",
    "LearnReport",
    "Memory",
    "MemoryHit",
    "MemoryItem",
    "RecallFigures",
    "SearchMode",
    "StoreError",
    "index_files",
    "split_passages",
]
