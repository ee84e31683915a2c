"""The memory section: for every HNSW engine (ruvector backends and peers), the resident
memory its index of the base keeps per vector, and its build time on one thread, each
engine in a fresh process (``memory_probe``) with every thread pool limited to one.

Engines whose build in this run's HNSW section took longer than the build budget (the
numpy reference in a quick run) are not rebuilt; they are listed as not measured.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import fresh, threadlimits
from .context import Context
from .results import Kind
from .timing import Stat, format_seconds

MEMORY = "hnsw_memory"
BUILD = "hnsw_build_one_thread"


@dataclass(frozen=True)
class Request:
    """What the fresh process is asked to build (passed as JSON on its command line)."""

    engine: str
    base: str  # .npy paths
    queries: str
    k: int
    repeats: int  # builds at most
    budget: float  # seconds of building after which builds stop repeating


@dataclass(frozen=True)
class Probe:
    """What it reports (one JSON line on its output)."""

    vectors: int
    resident_bytes: int | None  # kept by the built index; None where the OS does not tell
    reported_bytes: int | None  # the index's own account (ruvector's stats().memory_bytes)
    builds: list[float]  # seconds per build, one thread


def section(context: Context) -> None:
    options, split, record = context.options, context.split, context.record
    rows, dimensions = split.base.shape
    shape = f"{rows:,} x {dimensions}"
    memory_label = (
        f"HNSW index memory per vector, {shape}, resident after the build (float32 alone {4 * dimensions:,} B)"
    )
    build_label = f"HNSW insert (build) on one thread, {shape}, in a fresh process"
    engines: list[tuple[str, Kind]] = [(name, "ruvector") for name in context.selection.hnsw]
    engines += [(peer.name, "peer") for peer in context.peers if peer.swept]
    context.progress.expect(len(engines))
    with tempfile.TemporaryDirectory(prefix="ruvector-bench-") as folder:
        base, queries = Path(folder) / "base.npy", Path(folder) / "queries.npy"
        np.save(base, split.base)
        np.save(queries, split.queries)
        for name, kind in engines:
            context.progress.step(f"memory and one-thread build of {name}, in a fresh process")
            took = context.build_seconds.get(name, 0.0)
            if took > options.build_budget:
                reason = (
                    f"{name}: not rebuilt, its build took {format_seconds(took)}, "
                    f"over the {format_seconds(options.build_budget)} build budget"
                )
                record.skip(MEMORY, memory_label, reason)
                record.skip(BUILD, build_label, reason)
                continue
            request = Request(name, str(base), str(queries), split.k, options.build_repeats, options.build_budget)
            try:
                result = run_probe(request)
            except fresh.ProbeError as exc:
                record.figure(MEMORY, memory_label, name, kind, None, f"failed: {exc}", unit="B")
                record.figure(BUILD, build_label, name, kind, None, f"failed: {exc}")
                continue
            record.figure(BUILD, build_label, name, kind, Stat.of(result.builds))
            if result.resident_bytes is None:
                record.skip(MEMORY, memory_label, f"{name}: no resident size here (read from /proc on Linux)")
                continue
            note = f"stats(): {result.reported_bytes / result.vectors:,.0f} B" if result.reported_bytes else ""
            per_vector = Stat.of([result.resident_bytes / result.vectors])
            record.figure(MEMORY, memory_label, name, kind, per_vector, note, unit="B")


def run_probe(request: Request) -> Probe:
    """Run ``memory_probe`` for one engine in a new interpreter with one thread everywhere."""
    env = {**os.environ, **threadlimits.variables(1)}
    line, _ = fresh.run(["-m", "ruvector_bench.memory_probe", json.dumps(asdict(request))], env)
    return Probe(**json.loads(line))
