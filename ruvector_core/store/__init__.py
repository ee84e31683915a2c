"""The persistent memory store behind ``ruvector index`` and ``ruvector query``."""

from .memory_store import Hit, MemoryStore, Passage, StoreError
from .text_files import index_files, split_passages

__all__ = ["Hit", "MemoryStore", "Passage", "StoreError", "index_files", "split_passages"]
