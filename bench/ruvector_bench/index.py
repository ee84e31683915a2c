"""How the HNSW cases are timed: builds (insert every base row), the recall/latency curve
over ``ef``, a batch search of every query in one call, and inserting one vector.

Builds repeat round-robin over the engines, up to ``repeats`` times each while the
engine's total build time stays under ``budget`` seconds (a pure-Python build of 10k rows
takes minutes; a compiled one, a second). Searches run one Python call per query and one
thread; for each ``ef``, ``passes`` rounds each run every engine over all queries, so the
engines share the machine's noise. Latency figures are per query, pooled over passes.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from .dataset import Split
from .engines import IndexEngine, Insert
from .recall import recall_at_k
from .timing import Stat, in_blocks, interleaved, time_call

Tick = Callable[[str], None]


@dataclass
class CurvePoint:
    ef: int | None
    recall: float
    latency: Stat  # seconds per query, pooled over passes
    p99: float  # 99th percentile of the pooled per-query seconds
    pass_means: list[float]  # mean seconds per query of each pass

    @property
    def qps(self) -> float:
        return 1.0 / float(np.mean(self.pass_means))

    def to_dict(self) -> dict[str, Any]:
        return {
            "ef": self.ef,
            "recall": self.recall,
            "qps": self.qps,
            "latency": self.latency.to_dict(),
            "p99": self.p99,
            "pass_means": self.pass_means,
        }


@dataclass
class EngineRun:
    engine: IndexEngine
    builds: list[float] = field(default_factory=list)
    points: list[CurvePoint] = field(default_factory=list)
    error: str | None = None


def warm_up(engine: IndexEngine, base: np.ndarray, queries: np.ndarray, k: int) -> None:
    """A tiny untimed build and search: JIT compilation, lazy imports, thread pools."""
    sample = base[: min(len(base), 256)]
    engine.build(sample, 1)
    search = engine.searcher(max(k, 16), min(k, len(sample)))
    for query in queries[:8]:
        search(query)


def warm_up_all(runs: Sequence[EngineRun], split: Split, tick: Tick) -> None:
    """``warm_up`` each engine; one that fails is marked and left out from then on."""
    for run in runs:
        tick(f"warm up {run.engine.name}")
        try:
            warm_up(run.engine, split.base, split.queries, split.k)
        except Exception as exc:
            run.error = f"warm-up failed: {type(exc).__name__}: {exc}"


def build_all(
    runs: Sequence[EngineRun], base: np.ndarray, threads: int, repeats: int, budget: float, tick: Tick
) -> None:
    """Build every engine ``repeats`` times round-robin while its total stays under ``budget``."""
    for round_ in range(repeats):
        for run in runs:
            if run.error or (round_ > 0 and sum(run.builds) > budget):
                continue
            tick(f"build {run.engine.name} ({round_ + 1}/{repeats})")
            start = time.perf_counter()
            try:
                run.engine.build(base, threads)
            except Exception as exc:  # one broken engine must not sink the run
                run.error = f"build failed: {type(exc).__name__}: {exc}"
                continue
            run.builds.append(time.perf_counter() - start)


def sweep(runs: Sequence[EngineRun], split: Split, efs: Sequence[int], passes: int, tick: Tick) -> None:
    """Fill every run's curve: for each ef, ``passes`` interleaved rounds over all queries."""
    k = split.k
    for ef in efs:
        live = [r for r in runs if not r.error and (r.engine.swept or ef == efs[0])]
        latencies: dict[int, list[np.ndarray]] = {id(r): [] for r in live}
        found: dict[int, list[Any]] = {}
        for pass_ in range(passes):
            for run in live:
                tick(f"search {run.engine.name} ef={ef if run.engine.swept else 'exact'} ({pass_ + 1}/{passes})")
                try:
                    times, raw = _timed_pass(run.engine.searcher(ef, k), split.queries)
                except Exception as exc:
                    run.error = f"search failed at ef={ef}: {type(exc).__name__}: {exc}"
                    continue
                latencies[id(run)].append(times)
                found[id(run)] = raw
        for run in live:
            if run.error or not latencies[id(run)]:
                continue
            rows = [run.engine.rows(r) for r in found[id(run)]]
            pooled = np.concatenate(latencies[id(run)])
            run.points.append(
                CurvePoint(
                    ef=ef if run.engine.swept else None,
                    recall=recall_at_k(rows, split.truth),
                    latency=Stat.of(pooled),
                    p99=float(np.percentile(pooled, 99)),
                    pass_means=[float(t.mean()) for t in latencies[id(run)]],
                )
            )


def _timed_pass(search: Callable[[np.ndarray], object], queries: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    clock = time.perf_counter
    times = np.empty(len(queries))
    raw: list[Any] = [None] * len(queries)
    for i in range(len(queries)):
        query = queries[i]
        start = clock()
        raw[i] = search(query)
        times[i] = clock() - start
    return times, raw


def sweep_ticks(runs: Sequence[EngineRun], efs: Sequence[int], passes: int) -> int:
    """Progress steps ``sweep`` reports at most."""
    swept = sum(1 for r in runs if r.engine.swept)
    return passes * (swept * len(efs) + len(runs) - swept)


@dataclass(frozen=True)
class BatchFigure:
    per_query: Stat  # seconds of one whole-batch call, divided by the queries in it
    recall: float

    @property
    def note(self) -> str:
        return f"recall {self.recall:.3f}"


def time_batches(
    runs: Sequence[EngineRun], split: Split, ef: int, threads: int, repeats: int
) -> tuple[dict[str, BatchFigure], dict[str, str]]:
    """Every query in one call, for each engine that has such a call: (figures, errors).

    Timed in blocks (``timing.in_blocks``): the calls run on thread pools, whose idle
    workers would otherwise spin against the next engine's call."""
    samplers: dict[str, Callable[[], float]] = {}
    recalls: dict[str, float] = {}
    errors: dict[str, str] = {}
    for run in runs:
        search = None if run.error else run.engine.batch_searcher(ef, split.k, threads)
        if search is None:
            continue
        name = run.engine.name
        try:
            found = run.engine.batch_rows(search(split.queries))  # also the warm-up
        except Exception as exc:
            errors[name] = f"{type(exc).__name__}: {exc}"
            continue
        recalls[name] = recall_at_k(found, split.truth)
        samplers[name] = partial(time_call, partial(search, split.queries))
    stats = in_blocks(samplers, repeats)
    scale = 1.0 / len(split.queries)
    return {name: BatchFigure(stats[name].scaled(scale), recalls[name]) for name in stats}, errors


def time_inserts(
    runs: Sequence[EngineRun], vectors: np.ndarray, first_row: int, repeats: int
) -> tuple[dict[str, Stat], dict[str, str]]:
    """One ``insert`` of one more vector per sample into each engine's built index, engines
    taking turns call by call: (stats, errors). Sample ``i`` adds ``vectors[i]`` (cycling)
    as row ``first_row + i``; an untimed insert first warms each engine up."""
    samplers: dict[str, Callable[[], float]] = {}
    errors: dict[str, str] = {}
    for run in runs:
        insert = None if run.error else run.engine.inserter(repeats + 1)
        if insert is None:
            continue
        try:
            samplers[run.engine.name] = _insert_sampler(insert, vectors, first_row)
        except Exception as exc:
            errors[run.engine.name] = f"{type(exc).__name__}: {exc}"
    return interleaved(samplers, repeats), errors


def _insert_sampler(insert: Insert, vectors: np.ndarray, first_row: int) -> Callable[[], float]:
    rows = itertools.count(first_row)

    def sample() -> float:
        row = next(rows)
        vector = vectors[(row - first_row) % len(vectors)]
        return time_call(partial(insert, row, vector))

    sample()  # the untimed warm-up insert
    return sample
