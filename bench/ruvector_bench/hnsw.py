"""The HNSW section: every selected ruvector backend serving ``hnsw`` and every installed
peer build the same base, then sweep ``ef`` over the held-out queries (see ``index`` for
how each is timed).

Per engine it records the build, the search at the headline ef, the fastest search at the
recall goal and one recall/latency curve; at the headline ef also a batch search of every
query in one call; then the insert of one more vector (last: it changes the indexes). Each
ruvector backend is also swept through its graph without the facade (the difference is
what the public API costs per call) and, when its build fits the build budget, over
int8-quantized vectors (the recall that storing int8 would cost).
"""

from __future__ import annotations

from .context import Context
from .engines import GraphEngine, RuvectorEngine
from .index import CurvePoint, EngineRun, build_all, sweep, sweep_ticks, time_batches, time_inserts, warm_up_all
from .options import RECALL_GOAL
from .recall import fastest_at_recall
from .results import Json, Record, facade_note
from .timing import Stat


def section(context: Context) -> None:
    options, split, progress = context.options, context.split, context.progress
    runs = [EngineRun(RuvectorEngine(name)) for name in context.selection.hnsw]
    runs += [EngineRun(peer) for peer in context.peers]
    progress.expect(len(runs) * (1 + options.build_repeats))
    warm_up_all(runs, split, progress.step)
    build_all(runs, split.base, options.threads, options.build_repeats, options.build_budget, progress.step)
    for run in runs:
        if run.builds:
            context.build_seconds[run.engine.name] = Stat.of(run.builds).median

    labels = _labels(context)
    swept = _with_variants(runs)
    progress.expect(sweep_ticks(swept, options.efs, options.passes) + 2)
    sweep(swept, split, list(options.efs), options.passes, progress.step)
    progress.step("search_batch")
    batches, batch_errors = time_batches(runs, split, options.headline_ef, options.threads, options.batch_repeats)
    progress.step("insert one vector")
    inserts, insert_errors = time_inserts(runs, split.queries, len(split.base), options.insert_repeats)

    record, by_name = context.record, {run.engine.name: run for run in swept}
    for run in swept:
        _record_curve(record, run, by_name, context, labels)
        record.curves.append(_curve(run))
    for name, batch in batches.items():
        kind = by_name[name].engine.kind
        record.figure("hnsw_search_batch", labels["hnsw_search_batch"], name, kind, batch.per_query, batch.note)
    for name, stat in inserts.items():
        record.figure("hnsw_insert_one", labels["hnsw_insert_one"], name, by_name[name].engine.kind, stat)
    for case, errors in (("hnsw_search_batch", batch_errors), ("hnsw_insert_one", insert_errors)):
        for name, error in errors.items():
            record.figure(case, labels[case], name, by_name[name].engine.kind, None, f"failed: {error}")


def _labels(context: Context) -> dict[str, str]:
    """Each case's label: what exactly was timed, on what."""
    k, ef, base = context.split.k, context.options.headline_ef, context.split.base
    shape = f"{len(base):,} x {base.shape[1]}"
    search = f"HNSW search k={k}, ef={ef}"
    return {
        "hnsw_build": f"HNSW insert (build), {shape}",
        "hnsw_search": f"{search}, {shape}",
        "hnsw_search_graph": f"{search}, the backend's graph without the facade, {shape}",
        "hnsw_search_at_recall": f"HNSW search k={k} at recall >= {RECALL_GOAL}, {shape}",
        "hnsw_search_batch": (
            f"HNSW search_batch of {len(context.split.queries):,} queries, k={k}, ef={ef}, "
            f"{context.options.threads} thread(s), per query, {shape}"
        ),
        "hnsw_insert_one": f"HNSW insert of one vector (one call) into {shape}",
    }


def _with_variants(runs: list[EngineRun]) -> list[EngineRun]:
    """``runs`` with each built ruvector engine followed by its graph variant."""
    out = []
    for run in runs:
        out.append(run)
        if isinstance(run.engine, RuvectorEngine) and run.builds:
            out.append(EngineRun(GraphEngine(run.engine)))
    return out


def _record_curve(
    record: Record, run: EngineRun, by_name: dict[str, EngineRun], context: Context, labels: dict[str, str]
) -> None:
    """The figures read off one engine's builds and curve."""
    engine, ef = run.engine, context.options.headline_ef
    name, kind = engine.name, engine.kind
    at_ef = next((p for p in run.points if p.ef == ef or p.ef is None), None)
    if isinstance(engine, GraphEngine):
        if at_ef is None:
            return
        owner = _at(by_name[engine.owner.name], ef)
        note = facade_note(owner.latency.median, at_ef.latency.median) if owner else ""
        record.figure("hnsw_search_graph", labels["hnsw_search_graph"], name, kind, at_ef.latency, note)
        return
    if run.builds and engine.swept:
        record.figure("hnsw_build", labels["hnsw_build"], name, kind, Stat.of(run.builds))
    if at_ef is not None and engine.swept:
        note = f"recall {at_ef.recall:.3f}"
        record.figure("hnsw_search", labels["hnsw_search"], name, kind, at_ef.latency, note, recall=at_ef.recall)
    points = [p.to_dict() for p in run.points]
    best = fastest_at_recall(points, RECALL_GOAL)
    label = labels["hnsw_search_at_recall"]
    if best is not None:
        where = f"ef={best['ef']}" if best["ef"] is not None else "exact"
        note = f"{where}, recall {best['recall']:.3f}"
        stat = Stat.from_dict(best["latency"])
        record.figure("hnsw_search_at_recall", label, name, kind, stat, note, recall=best["recall"], ef=best["ef"])
    elif points:
        record.figure("hnsw_search_at_recall", label, name, kind, None, f"no swept ef reached {RECALL_GOAL}")


def _at(run: EngineRun, ef: int) -> CurvePoint | None:
    return next((p for p in run.points if p.ef == ef), None)


def _curve(run: EngineRun) -> Json:
    return {
        "engine": run.engine.name,
        "kind": run.engine.kind,
        "version": run.engine.version,
        "variant_of": run.engine.variant_of,
        "build": Stat.of(run.builds).to_dict() if run.builds else None,
        "builds": run.builds,
        "error": run.error,
        "points": [p.to_dict() for p in run.points],
    }
