"""Measures an index's resident memory against what its ``stats().memory_bytes`` says.

Run in a fresh process (``python -m ruvector_conformance.footprint_probe BACKEND ROWS``), so
nothing else of a test session moves the process's RSS: warm the backend up (compiled
kernels, first-use allocations) on an index of its own, hand freed heap pages back and read RSS, insert ``ROWS`` random
384-d rows in batches of 1,000 (ids made per batch, so the index holds the only reference
to them), read RSS again, and print both figures as JSON. Linux only (``/proc``).
"""

from __future__ import annotations

import json
import sys

import numpy as np

import ruvector_core as rv
from ruvector_core import footprint

CONFIG = rv.HnswConfig(dimensions=384, m=16, ef_construction=64, seed=1)
BATCH = 1_000


def rss() -> int:
    """The resident size once freed heap pages are handed back: memory an index freed is
    not memory it holds (wasm's is never freed: its instance keeps it, and counts it)."""
    footprint.release_freed_memory()
    size = footprint.resident_bytes()
    if size is None:
        raise RuntimeError("the resident size is read from /proc (Linux)")
    return size


def fill(index: rv.HnswIndex, rows: np.ndarray, prefix: str) -> None:
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        index.insert_batch([f"{prefix}-{start + i:08d}" for i in range(len(chunk))], chunk)


def measure(backend: str, rows: int) -> dict[str, int]:
    runtime = rv.Runtime(backend=backend)
    data = np.random.default_rng(0).standard_normal((rows, CONFIG.dimensions)).astype(np.float32)
    warm = runtime.hnsw(CONFIG)
    fill(warm, data[: 2 * BATCH], "warm")
    warm.search(data[0], k=10)
    warm.stats()
    del warm
    before = rss()
    index = runtime.hnsw(CONFIG)
    fill(index, data, "doc")
    index.search(data[0], k=10)
    grown = rss() - before
    return {"rows": rows, "rss_growth": grown, "memory_bytes": index.stats().memory_bytes}


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], int(sys.argv[2]))))
