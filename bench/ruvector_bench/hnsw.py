"""The HNSW section: every selected ruvector backend serving ``hnsw`` and every installed
peer build the same base, then sweep ``ef`` over the held-out queries (see ``index`` for
how each is timed). It records the build, the search at the headline ef, the fastest
search at the recall goal, and one recall/latency curve per engine."""

from __future__ import annotations

from .context import Context
from .engines import IndexEngine, RuvectorEngine
from .index import EngineRun, build_all, count_ticks, sweep, warm_up_all
from .options import RECALL_GOAL
from .recall import fastest_at_recall
from .results import Json, Record
from .timing import Stat


def section(context: Context) -> None:
    options, split, progress = context.options, context.split, context.progress
    engines: list[IndexEngine] = [RuvectorEngine(name) for name in context.selection.hnsw] + context.peers
    runs = [EngineRun(engine) for engine in engines]
    progress.expect(len(runs) + count_ticks(engines, options.efs, options.build_repeats, options.passes))
    warm_up_all(runs, split, progress.step)
    build_all(runs, split.base, options.threads, options.build_repeats, options.build_budget, progress.step)
    sweep(runs, split, list(options.efs), options.passes, progress.step)
    for run in runs:
        if run.builds:
            context.build_seconds[run.engine.name] = Stat.of(run.builds).median
        _record(context.record, run, context)
        context.record.curves.append(_curve(run))


def _record(record: Record, run: EngineRun, context: Context) -> None:
    split = context.split
    shape = f"{len(split.base):,} x {split.base.shape[1]}"
    ef = context.options.headline_ef
    name, kind = run.engine.name, run.engine.kind
    if run.builds and run.engine.swept:
        record.figure("hnsw_build", f"HNSW insert (build), {shape}", name, kind, Stat.of(run.builds))
    points = [p.to_dict() for p in run.points]
    at_ef = next((p for p in points if p["ef"] == ef or p["ef"] is None), None)
    if at_ef is not None and run.engine.swept:
        record.figure(
            "hnsw_search",
            f"HNSW search k={split.k}, ef={ef}, {shape}",
            name,
            kind,
            Stat.from_dict(at_ef["latency"]),
            f"recall {at_ef['recall']:.3f}",
            recall=at_ef["recall"],
        )
    best = fastest_at_recall(points, RECALL_GOAL)
    label = f"HNSW search k={split.k} at recall >= {RECALL_GOAL}, {shape}"
    if best is not None:
        where = f"ef={best['ef']}" if best["ef"] is not None else "exact"
        record.figure(
            "hnsw_search_at_recall",
            label,
            name,
            kind,
            Stat.from_dict(best["latency"]),
            f"{where}, recall {best['recall']:.3f}",
            recall=best["recall"],
            ef=best["ef"],
        )
    elif points:
        record.figure("hnsw_search_at_recall", label, name, kind, None, f"no swept ef reached {RECALL_GOAL}")


def _curve(run: EngineRun) -> Json:
    return {
        "engine": run.engine.name,
        "kind": run.engine.kind,
        "version": run.engine.version,
        "build": Stat.of(run.builds).to_dict() if run.builds else None,
        "builds": run.builds,
        "error": run.error,
        "points": [p.to_dict() for p in run.points],
    }
