"""The fresh process of the memory section: build one engine's index and report what it kept.

    python -m ruvector_bench.memory_probe '{"engine": "native", "base": "base.npy", ...}'

A process of its own, because resident memory is only comparable from a clean start: in
the benchmark's process, every earlier case has left freed pages that a build may reuse.
After an untimed warm-up build (JIT compilation, lazy imports), the freed memory is
handed back to the OS, the resident size read, one index of the base built on one thread
and the resident size read again. Further builds, timed only, follow while the total stays
under the budget. Prints one JSON line (``memory.Probe``'s fields).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict

import numpy as np

from ruvector_core.footprint import release_freed_memory, resident_bytes

from .engines import engine_named
from .index import warm_up
from .memory import Probe, Request
from .threadlimits import blas_threads


def probe(request: Request) -> Probe:
    base, queries = np.load(request.base), np.load(request.queries)
    warm_up(engine_named(request.engine), base, queries, request.k)
    engine = engine_named(request.engine)  # a new one: the warm-up index is garbage now
    release_freed_memory()
    before = resident_bytes()
    start = time.perf_counter()
    engine.build(base, 1)
    builds = [time.perf_counter() - start]
    release_freed_memory()
    after = resident_bytes()
    reported = engine.reported_bytes()
    while len(builds) < request.repeats and sum(builds) <= request.budget:
        start = time.perf_counter()
        engine.build(base, 1)
        builds.append(time.perf_counter() - start)
    kept = after - before if after is not None and before is not None else None
    return Probe(len(base), kept, reported, builds)


def main(argv: list[str]) -> None:
    request = Request(**json.loads(argv[0]))
    with blas_threads(1):
        result = probe(request)
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main(sys.argv[1:])
