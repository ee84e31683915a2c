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
from .engines import GraphEngine, Int8Engine, RuvectorEngine
from .index import EngineRun, build_all, sweep, sweep_ticks, time_batches, time_inserts, warm_up_all
from .options import RECALL_GOAL
from .recall import fastest_at_recall
from .results import Json, Record, facade_note
from .timing import Stat, format_seconds


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

    swept = _with_variants(runs, context)
    progress.expect(sweep_ticks(swept, options.efs, options.passes) + 2)
    sweep(swept, split, list(options.efs), options.passes, progress.step)
    progress.step("search_batch")
    batches, batch_errors = time_batches(runs, split, options.headline_ef, options.threads, options.batch_repeats)
    progress.step("insert one vector")
    inserts, insert_errors = time_inserts(runs, split.queries, len(split.base), options.insert_repeats)

    record, by_name = context.record, {run.engine.name: run for run in swept}
    for run in swept:
        _record_curve(record, run, by_name, context)
        record.curves.append(_curve(run))
    shape = _shape(context)
    batch_label = (
        f"HNSW search_batch of {len(split.queries):,} queries, k={split.k}, ef={options.headline_ef}, "
        f"{options.threads} thread(s), per query, {shape}"
    )
    for name, batch in batches.items():
        engine = by_name[name].engine
        record.figure(
            "hnsw_search_batch", batch_label, name, engine.kind, batch.per_query, f"recall {batch.recall:.3f}"
        )
    insert_label = f"HNSW insert of one vector (one call) into {shape}"
    for name, stat in inserts.items():
        record.figure("hnsw_insert_one", insert_label, name, by_name[name].engine.kind, stat)
    for case, label, errors in (
        ("hnsw_search_batch", batch_label, batch_errors),
        ("hnsw_insert_one", insert_label, insert_errors),
    ):
        for name, error in errors.items():
            record.figure(case, label, name, by_name[name].engine.kind, None, f"failed: {error}")


def _with_variants(runs: list[EngineRun], context: Context) -> list[EngineRun]:
    """``runs`` with each built ruvector engine followed by its graph and int8 variants.

    The int8 index is built once, and only for engines whose float build fits the build
    budget (the numpy reference's does not in a quick run); the others are listed as not
    measured."""
    options, out = context.options, []
    label = f"HNSW search k={context.split.k}, ef={options.headline_ef}, over int8-quantized vectors, {_shape(context)}"
    for run in runs:
        out.append(run)
        engine = run.engine
        if not isinstance(engine, RuvectorEngine) or not run.builds:
            continue
        out.append(EngineRun(GraphEngine(engine)))
        if run.builds[0] > options.build_budget:
            reason = (
                f"{engine.name}: not built, its float build took {format_seconds(run.builds[0])}, "
                f"over the {format_seconds(options.build_budget)} build budget"
            )
            context.record.skip("hnsw_search_int8", label, reason)
            continue
        int8 = EngineRun(Int8Engine(engine))
        context.progress.expect(1)
        build_all([int8], context.split.base, options.threads, 1, options.build_budget, context.progress.step)
        out.append(int8)
    return out


def _shape(context: Context) -> str:
    base = context.split.base
    return f"{len(base):,} x {base.shape[1]}"


def _record_curve(record: Record, run: EngineRun, by_name: dict[str, EngineRun], context: Context) -> None:
    """The figures read off one engine's builds and curve."""
    split, ef, shape = context.split, context.options.headline_ef, _shape(context)
    engine = run.engine
    name, kind = engine.name, engine.kind
    points = [p.to_dict() for p in run.points]
    at_ef = next((p for p in points if p["ef"] == ef or p["ef"] is None), None)
    if isinstance(engine, GraphEngine):
        if at_ef is not None:
            note = _facade_note(at_ef, by_name[engine.owner.name], ef)
            label = f"HNSW search k={split.k}, ef={ef}, the backend's graph without the facade, {shape}"
            record.figure("hnsw_search_graph", label, name, kind, Stat.from_dict(at_ef["latency"]), note)
        return
    if isinstance(engine, Int8Engine):
        if at_ef is not None:
            float_run = by_name[engine.inner.name]
            float_at_ef = next((p for p in float_run.points if p.ef == ef), None)
            float_recall = f" (float {float_at_ef.recall:.3f})" if float_at_ef else ""
            note = (
                f"recall {at_ef['recall']:.3f}{float_recall}; int8 codes {engine.code_bytes:,.0f} B/vector, "
                f"float32 {4 * split.base.shape[1]:,}"
            )
            label = f"HNSW search k={split.k}, ef={ef}, over int8-quantized vectors, {shape}"
            record.figure("hnsw_search_int8", label, name, kind, Stat.from_dict(at_ef["latency"]), note)
        return
    if run.builds and engine.swept:
        record.figure("hnsw_build", f"HNSW insert (build), {shape}", name, kind, Stat.of(run.builds))
    if at_ef is not None and engine.swept:
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


def _facade_note(graph_at_ef: Json, owner: EngineRun, ef: int) -> str:
    api = next((p for p in owner.points if p.ef == ef), None)
    return facade_note(api.latency.median, graph_at_ef["latency"]["median"]) if api else ""


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
