"""RuVector's ``RabitqIndex`` (PyPI ``ruvector``) measured in its own environment.

    <peer environment>/bin/python rabitq_probe.py '{"base": "base.npy", ...}'

That distribution installs a ``ruvector`` command over ours and is another project, so it
lives in a virtual environment of its own (``rabitq.environment``) and this file is run
there by path: it imports only the standard library, numpy and that package, never
``ruvector_bench``. It builds one index of the (unit) base on one thread, with the resident
size read before and after, then times one ``search`` call per query at each rerank factor,
``passes`` times, exactly as the benchmark times the other engines. Prints one JSON line:
the build seconds, the resident bytes the index kept, and per factor the seconds of every
search of every pass and the rows found in the last pass.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np


def resident_bytes() -> int:
    """This process's resident set size, from /proc."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def release_freed_memory() -> None:
    gc.collect()
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)


def probe(request: dict[str, Any]) -> dict[str, Any]:
    from ruvector import RabitqIndex  # type: ignore[import-not-found]  # only in its own environment

    base, queries, k = np.load(request["base"]), np.load(request["queries"]), int(request["k"])
    warm = RabitqIndex.build(np.ascontiguousarray(base[: min(len(base), 1000)]))
    warm.search(queries[0], k)
    del warm
    release_freed_memory()
    before = resident_bytes()
    start = time.perf_counter()
    index = RabitqIndex.build(np.ascontiguousarray(base))
    build = time.perf_counter() - start
    release_freed_memory()
    kept = resident_bytes() - before
    points = []
    for factor in request["factors"]:
        passes: list[list[float]] = []
        rows: list[list[int]] = []
        for _ in range(int(request["passes"])):
            seconds, rows = [], []
            for query in queries:
                start = time.perf_counter()
                hits = index.search(query, k, rerank_factor=factor)
                seconds.append(time.perf_counter() - start)
                rows.append([int(row) for row, _ in hits])
            passes.append(seconds)
        points.append({"factor": factor, "seconds": passes, "rows": rows})
    return {"version": version("ruvector"), "build": build, "resident_bytes": kept, "points": points}


if __name__ == "__main__":
    print(json.dumps(probe(json.loads(sys.argv[1]))))
