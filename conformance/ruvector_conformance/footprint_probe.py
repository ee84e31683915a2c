"""Measures an index's resident memory against what its ``stats().memory_bytes`` says.

Run in a fresh process (``python -m ruvector_conformance.footprint_probe BACKEND ROWS
[SECONDS]``), so nothing else of a test session moves the process's RSS: warm the backend
up (compiled kernels, first-use allocations) on an index of its own, hand freed heap pages
back and read RSS, insert up to ``ROWS`` random 384-d rows in batches of 1,000 (stopping
after ``SECONDS``, at no fewer than 5,000 rows; ids made per batch, so the index holds the
only reference to them), read RSS again, and print the figures as JSON. Linux only.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

import ruvector_core as rv
from ruvector_core import footprint

CONFIG = rv.HnswConfig(dimensions=384, m=16, ef_construction=64, seed=1)
BATCH = 1_000
#: Rows inserted whatever the time: fewer would not lift the index above RSS's noise.
MIN_ROWS = 5_000


def rss() -> int:
    """The resident size once freed heap pages are handed back: memory an index freed is
    not memory it holds (wasm's is never freed: its instance keeps it, and counts it)."""
    footprint.release_freed_memory()
    size = footprint.resident_bytes()
    if size is None:
        raise RuntimeError("the resident size is read from /proc (Linux)")
    return size


def fill(index: rv.HnswIndex, rows: np.ndarray, prefix: str, seconds: float = float("inf")) -> int:
    """Insert ``rows`` in batches until they are all in or ``seconds`` have passed (but at
    least ``MIN_ROWS``); the number inserted."""
    started = time.monotonic()
    done = 0
    while done < len(rows) and (done < MIN_ROWS or time.monotonic() - started < seconds):
        chunk = rows[done : done + BATCH]
        index.insert_batch([f"{prefix}-{done + i:08d}" for i in range(len(chunk))], chunk)
        done += len(chunk)
    return done


def measure(backend: str, rows: int, seconds: float) -> dict[str, int]:
    runtime = rv.Runtime(backend=backend)
    data = np.random.default_rng(0).standard_normal((rows, CONFIG.dimensions)).astype(np.float32)
    warm = runtime.hnsw(CONFIG)
    fill(warm, data[: 2 * BATCH], "warm")
    warm.search(data[0], k=10)
    warm.stats()
    del warm
    before = rss()
    index = runtime.hnsw(CONFIG)
    done = fill(index, data, "doc", seconds)
    index.search(data[0], k=10)
    grown = rss() - before
    return {"rows": done, "rss_growth": grown, "memory_bytes": index.stats().memory_bytes}


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 1e9)))
