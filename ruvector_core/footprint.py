"""What Python objects that an index keeps occupy, for ``IndexStats.memory_bytes``.

An index's id table (a list of id strings, a dict from live id to node) and a pure-Python
graph (lists of neighbour lists) take several times their payload: a str carries ~49 bytes
of header, a list slot 8, an int above 256 (not cached by CPython) 28. Backends add these
to their arrays' bytes so that the figure is what the process holds, not what the data
would take packed. And how a fresh process measures what an index adds to its resident
set (the benchmarks' memory section and the conformance check of those figures).
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
from collections.abc import Iterable
from pathlib import Path

#: CPython keeps the ints -5..256 as shared objects; larger ones are one object each.
_CACHED_INT = 256
_INT_BYTES = sys.getsizeof(2**20)


def strings_bytes(strings: Iterable[str]) -> int:
    """The str objects themselves (not the containers holding them)."""
    return sum(map(sys.getsizeof, strings))


def ints_bytes(values: Iterable[int]) -> int:
    """The distinct int objects among ``values`` that are not CPython's shared small ints
    (a graph appends one node's int object to many lists: counted once)."""
    return _INT_BYTES * len({id(v) for v in values if v > _CACHED_INT})


def id_table_bytes(node_ids: list[str], live: dict[str, int]) -> int:
    """A node -> id list and a live id -> node dict sharing the same id strings."""
    return sys.getsizeof(node_ids) + strings_bytes(node_ids) + sys.getsizeof(live) + ints_bytes(live.values())


def nested_lists_bytes(lists: list[list[list[int]]]) -> int:
    """A list of lists of int lists (node -> layer -> neighbours), each int object once."""
    total = sys.getsizeof(lists)
    for layers in lists:
        total += sys.getsizeof(layers) + sum(map(sys.getsizeof, layers))
    return total + ints_bytes(v for layers in lists for neighbours in layers for v in neighbours)


def resident_bytes() -> int | None:
    """This process's resident set size, from /proc (Linux); None elsewhere."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def release_freed_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc's ``malloc_trim``,
    where the C library has it), so that the resident size counts what is still in use."""
    gc.collect()
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)
