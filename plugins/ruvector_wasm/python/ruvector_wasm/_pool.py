"""Reusable buffers in one instance's linear memory."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._host import Instance


class MemoryPool:
    """Reusable buffers in one instance's linear memory.

    Buffers come in power-of-two size classes (at least 64 bytes). A released buffer is
    zeroed (nothing of one call's data is visible to the next) and kept for reuse while the
    pool holds at most ``max_bytes``; beyond that, and whenever an allocation or a headroom
    check fails ("pressure"), pooled buffers go back to the module's allocator.
    """

    MIN = 64

    def __init__(self, instance: Instance, max_bytes: int) -> None:
        # weak: the instance owns its pool, and a cycle would keep a dropped index's store
        # and linear memory (and its address-space reservation) alive until the cyclic
        # garbage collector happened to run
        self._instance = weakref.ref(instance)
        self.max_bytes = max_bytes
        self.free_lists: dict[int, list[int]] = {}
        self.pooled = 0
        self.in_use = 0
        self.peak = 0
        self.acquired = 0
        self.hits = 0
        self.clears = 0

    @property
    def instance(self) -> Instance:
        instance = self._instance()
        assert instance is not None, "a pool is used only through its live instance"
        return instance

    @classmethod
    def size_class(cls, nbytes: int) -> int:
        return max(cls.MIN, 1 << max(0, nbytes - 1).bit_length())

    def acquire(self, nbytes: int) -> tuple[int, int]:
        """A zeroed buffer of at least ``nbytes``: (pointer, capacity)."""
        cap = self.size_class(nbytes)
        self.acquired += 1
        bucket = self.free_lists.get(cap)
        if bucket:
            ptr = bucket.pop()
            self.pooled -= cap
            self.hits += 1
        else:
            ptr = self.instance.alloc(cap)
        self.in_use += cap
        self.peak = max(self.peak, self.in_use)
        return ptr, cap

    def release(self, ptr: int, cap: int) -> None:
        self.in_use -= cap
        inst = self.instance
        inst.u8[ptr : ptr + cap] = 0
        if self.pooled + cap <= self.max_bytes:
            self.free_lists.setdefault(cap, []).append(ptr)
            self.pooled += cap
        else:
            inst.free(ptr, cap)

    def clear(self) -> None:
        """Return every pooled buffer to the module's allocator."""
        self.clears += 1
        lists, self.free_lists = self.free_lists, {}
        self.pooled = 0
        for cap, ptrs in lists.items():
            for ptr in ptrs:
                self.instance.free(ptr, cap)

    def forget(self) -> None:
        """Drop the bookkeeping (the instance it pointed into is gone)."""
        self.free_lists = {}
        self.pooled = self.in_use = 0

    def stats(self) -> dict[str, int]:
        return {
            "acquired": self.acquired,
            "reused": self.hits,
            "pooled_bytes": self.pooled,
            "in_use_bytes": self.in_use,
            "peak_in_use_bytes": self.peak,
            "clears": self.clears,
            "max_pooled_bytes": self.max_bytes,
        }
