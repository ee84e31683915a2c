"""Compile every kernel now, so the first real call only loads machine code from the cache.

    python -m ruvector_numba.warmup

Useful in a Docker build step or after an upgrade: one process pays the compile time
(tens of seconds on a busy machine) and every later process starts warm. Prints where
the cache lives and how long it took.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from ruvector_core.models import FloatsPlacement, StorageKind

STORAGE_KINDS: list[tuple[StorageKind, FloatsPlacement]] = [
    ("float32", "resident"),
    ("int8", "resident"),
    ("int8", "none"),
    ("binary", "resident"),
    ("binary", "none"),
]


def warm_up() -> float:
    import ruvector_core as rv

    from . import _cachedir

    start = time.perf_counter()
    rt = rv.Runtime(backend="numba")
    ops = rt.vector_ops
    rng = np.random.default_rng(0)
    small = rng.standard_normal((4, 16)).astype(np.float32)
    large = rng.standard_normal((1024, 256)).astype(np.float32)  # above the parallel threshold
    for matrix in (small, large):
        ops.batch_distance(matrix[0], matrix, "cosine")
        ops.normalize(matrix)
        for kind in ("int8", "binary"):
            ops.dequantize(ops.quantize(matrix, rv.QuantizationConfig(kind=kind)))
    ops.distance(small[0], small[1])
    # each storage kind (and whether its floats are kept) compiles its own specialisation
    for storage, floats in STORAGE_KINDS:
        config = rv.HnswConfig(dimensions=16, m=4, ef_construction=8, storage=storage, floats=floats)
        index = rt.hnsw(config)
        index.insert_batch([f"w{i}" for i in range(64)], rng.standard_normal((64, 16)).astype(np.float32))
        allow = index.allowlist([f"w{i}" for i in range(0, 64, 2)])
        for filtered in (None, allow):  # and so does a filtered search
            index.search(small[0], k=3, allow=filtered)
            index.search_batch(rng.standard_normal((16, 16)).astype(np.float32), k=3, allow=filtered)
    elapsed = time.perf_counter() - start
    print(f"ruvec-numba kernels ready in {elapsed:.1f} s; cache: {_cachedir.configure() or 'disabled'}")
    return elapsed


if __name__ == "__main__":
    warm_up()
    sys.exit(0)
