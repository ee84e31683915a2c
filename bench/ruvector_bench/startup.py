"""The start-up section: for every ruvector backend serving ``hnsw``, the time from a new
process to its first search result, after loading a saved index of the base or after
building a small one (``startup_probe``), first with an empty user cache, then warm.

An empty cache is what a fresh install sees: a backend that compiles at first use
(numba's JIT) compiles then and stores machine code in the user cache dir, which the warm
runs read back. Each backend and mode gets its own new cache folder (``XDG_CACHE_HOME``,
where platformdirs puts the user cache on Linux; ``NUMBA_CACHE_DIR`` is unset). The
saved index is built once by the top-ranked installed backend: every backend loads the
same format.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from statistics import median

import numpy as np

from ruvector_core.models import HnswConfig
from ruvector_core.runtime import Runtime

from . import fresh
from .context import Context
from .timing import Stat, format_seconds

PROBE = Path(__file__).with_name("startup_probe.py")
BUILD_ROWS = 200  # a first index: what an agent's memory holds on its first day
CASES = {"load": "first_search_load", "build": "first_search_build"}
PHASES = ("imports", "prepare", "search")


def section(context: Context) -> None:
    options, split, record = context.options, context.split, context.record
    shape = f"{len(split.base):,} x {split.base.shape[1]}"
    labels = {
        "load": f"new process to first search, index of {shape} loaded from bytes",
        "build": f"new process to first search, new index of {min(BUILD_ROWS, len(split.base))} vectors",
    }
    backends = context.selection.hnsw
    if not backends:
        for mode, case in CASES.items():
            record.skip(case, labels[mode], "no selected backend serves `hnsw`")
        return
    context.progress.expect(len(backends) * len(CASES))
    with tempfile.TemporaryDirectory(prefix="ruvector-bench-") as name:
        folder = Path(name)
        inputs = {"load": folder / "index.ruv", "build": folder / "vectors.npy"}
        config = HnswConfig(dimensions=split.base.shape[1])
        saved = Runtime().hnsw(config)
        saved.insert_batch([str(i) for i in range(len(split.base))], split.base)
        inputs["load"].write_bytes(saved.serialize())
        np.save(inputs["build"], split.base[:BUILD_ROWS])
        np.save(folder / "query.npy", split.queries[0])
        for backend in backends:
            for mode, case in CASES.items():
                context.progress.step(f"start-up of {backend}: {mode}, cold and warm")
                arguments = ["-P", str(PROBE), backend, mode, str(inputs[mode]), str(folder / "query.npy")]
                env = empty_cache_environment(folder / f"cache-{backend}-{mode}")
                try:
                    cold = _probe(arguments, env)
                    warm = [_probe(arguments, env) for _ in range(options.startup_repeats)]
                except fresh.ProbeError as exc:
                    record.figure(case, labels[mode], backend, "ruvector", None, f"failed: {exc}")
                    continue
                phases = ", ".join(f"{phase} {format_seconds(median(w[phase] for w in warm))}" for phase in PHASES)
                note = f"empty cache {format_seconds(cold['total'])}; warm: {phases}"
                record.figure(case, labels[mode], backend, "ruvector", Stat.of([w["total"] for w in warm]), note)


def empty_cache_environment(cache: Path) -> dict[str, str]:
    """This process's environment with the user cache moved to ``cache`` (new, empty)."""
    env = {name: value for name, value in os.environ.items() if name != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(cache)
    return env


def _probe(arguments: list[str], env: dict[str, str]) -> dict[str, float]:
    line, _ = fresh.run(arguments, env)
    seconds: dict[str, float] = json.loads(line)
    return seconds
