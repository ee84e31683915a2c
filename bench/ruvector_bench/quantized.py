"""The quantized section: indexes that store codes instead of float32 vectors.

Every selected ruvector backend builds the base in each storage kind (int8 and binary, with
the float vectors kept for exact final scores or not kept at all), beside the peers that
store codes (FAISS ``IndexHNSWSQ`` 8-bit, USearch i8 and b1, RuVector's ``RabitqIndex``
from PyPI in its own environment) and hnswlib's float32 index as the speed reference. Each
sweeps ``ef`` (``RabitqIndex``: its rerank factor) over the held-out queries as the HNSW
section does; each is then built once more in a fresh process on one thread to measure the
resident memory its index keeps per vector, with the float32 index of the same backend for
the ratio. A backend whose float32 build did not fit the build budget in the HNSW section
(the numpy reference in a quick run) is not measured here.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import fresh, rabitq, threadlimits
from .context import Context
from .engines import CODE_PEERS, PEERS, STORAGE_VARIANTS, RuvectorEngine, installed_peers, unit_rows
from .index import CurvePoint, EngineRun, build_all, sweep, sweep_ticks, warm_up_all
from .memory import Request, run_probe
from .options import RECALL_GOAL
from .recall import fastest_at_recall
from .results import Kind, Record
from .timing import Stat, format_seconds

SEARCH = "quantized_search"
AT_RECALL = "quantized_search_at_recall"
MEMORY = "quantized_memory"


def section(context: Context) -> None:
    options, split, progress, record = context.options, context.split, context.progress, context.record
    labels = _labels(context)
    backends = [name for name in context.selection.hnsw if _fits_budget(context, name, labels)]
    runs = [EngineRun(RuvectorEngine(b, storage=s, floats=f)) for b in backends for s, f in STORAGE_VARIANTS]
    if options.peers:
        peers, missing = installed_peers({"hnswlib": PEERS["hnswlib"], **CODE_PEERS})
        runs += [EngineRun(peer) for peer in peers]
        for name, reason in missing.items():
            record.skip(SEARCH, labels[SEARCH], f"{name}: {reason}")
    progress.expect(2 * len(runs) + sweep_ticks(runs, options.efs, options.passes) + len(runs) + len(backends) + 1)
    warm_up_all(runs, split, progress.step)
    build_all(runs, split.base, options.threads, 1, options.build_budget, progress.step)
    sweep(runs, split, list(options.efs), options.passes, progress.step)
    resident = _resident_per_vector(context, [r.engine.name for r in runs if not r.error], backends)
    for run in runs:
        _record(record, run, context, labels, resident)
    if options.peers:
        _rabitq(context, labels)


def _labels(context: Context) -> dict[str, str]:
    base, k, ef = context.split.base, context.split.k, context.options.headline_ef
    shape = f"{len(base):,} x {base.shape[1]}"
    return {
        SEARCH: f"HNSW over codes, search k={k}, ef={ef}, {shape}",
        AT_RECALL: f"HNSW over codes, search k={k} at recall >= {RECALL_GOAL}, {shape}",
        MEMORY: f"HNSW over codes, resident memory per vector after the build, {shape} (float32 alone "
        f"{4 * base.shape[1]:,} B)",
    }


def _fits_budget(context: Context, backend: str, labels: dict[str, str]) -> bool:
    took = context.build_seconds.get(backend, 0.0)
    if took <= context.options.build_budget:
        return True
    reason = (
        f"{backend}: not built, its float32 build took {format_seconds(took)}, over the "
        f"{format_seconds(context.options.build_budget)} build budget"
    )
    context.record.skip(SEARCH, labels[SEARCH], reason)
    return False


def _resident_per_vector(context: Context, engines: list[str], backends: list[str]) -> dict[str, float | str]:
    """Bytes per vector each engine's index keeps (float32 indexes of ``backends`` included,
    for the ratios), measured in a fresh process; a string says why one was not."""
    options, split = context.options, context.split
    out: dict[str, float | str] = {}
    with tempfile.TemporaryDirectory(prefix="ruvector-bench-") as folder:
        base, queries = Path(folder) / "base.npy", Path(folder) / "queries.npy"
        np.save(base, split.base)
        np.save(queries, split.queries)
        for name in [*backends, *engines]:
            context.progress.step(f"resident memory of {name}, in a fresh process")
            request = Request(name, str(base), str(queries), split.k, 1, options.build_budget)
            try:
                probe = run_probe(request)
            except fresh.ProbeError as exc:
                out[name] = f"failed: {exc}"
                continue
            kept = probe.resident_bytes
            out[name] = kept / probe.vectors if kept is not None else "no resident size here (read from /proc)"
    return out


def _record(
    record: Record, run: EngineRun, context: Context, labels: dict[str, str], resident: dict[str, float | str]
) -> None:
    engine, ef = run.engine, context.options.headline_ef
    name, kind = engine.name, engine.kind
    if run.error:
        record.figure(SEARCH, labels[SEARCH], name, kind, None, f"failed: {run.error}")
        return
    build = format_seconds(Stat.of(run.builds).median) if run.builds else "not built"
    memory = resident.get(name, "not measured")
    memory_note = _memory_note(engine, memory, resident)
    at_ef = next((p for p in run.points if p.ef == ef), None)
    if at_ef is not None:
        note = f"recall {at_ef.recall:.3f}; {memory_note}; build {build}"
        record.figure(SEARCH, labels[SEARCH], name, kind, at_ef.latency, note, recall=at_ef.recall)
    _record_at_recall(record, labels, name, kind, [(p.ef, p) for p in run.points], "ef")
    if isinstance(memory, float):
        record.figure(MEMORY, labels[MEMORY], name, kind, Stat.of([memory]), memory_note, unit="B")
    if isinstance(engine, RuvectorEngine):
        record.curves.append(_curve(name, kind, engine.storage, engine.version, run.builds, run.points))


def _memory_note(engine: object, memory: float | str, resident: dict[str, float | str]) -> str:
    if not isinstance(memory, float):
        return f"memory {memory}"
    float32 = resident.get(engine.backend) if isinstance(engine, RuvectorEngine) else None
    ratio = f" ({memory / float32:.2f}x its float32 index)" if isinstance(float32, float) and float32 > 0 else ""
    return f"{memory:,.0f} B/vector resident{ratio}"


def _record_at_recall(
    record: Record,
    labels: dict[str, str],
    name: str,
    kind: Kind,
    points: Sequence[tuple[int | None, CurvePoint]],
    knob: str,
) -> None:
    """The fastest point at the recall goal, named by its ``knob`` (ef or rerank factor)."""
    best = fastest_at_recall([{**p.to_dict(), "ef": value} for value, p in points], RECALL_GOAL)
    if best is None:
        if points:
            record.figure(AT_RECALL, labels[AT_RECALL], name, kind, None, f"no swept {knob} reached {RECALL_GOAL}")
        return
    note = f"{knob}={best['ef']}, recall {best['recall']:.3f}"
    stat = Stat.from_dict(best["latency"])
    record.figure(AT_RECALL, labels[AT_RECALL], name, kind, stat, note, recall=best["recall"])


def _rabitq(context: Context, labels: dict[str, str]) -> None:
    """``RabitqIndex`` from its own environment: searched at each rerank factor, memory measured there."""
    split, options, record = context.split, context.options, context.record
    context.progress.step(f"{rabitq.ENGINE}: build and search in its own environment")
    env = {**os.environ, **threadlimits.variables(1)}
    with tempfile.TemporaryDirectory(prefix="ruvector-bench-") as folder:
        base, queries = Path(folder) / "base.npy", Path(folder) / "queries.npy"
        np.save(base, unit_rows(split.base))
        np.save(queries, unit_rows(split.queries))
        try:
            result = rabitq.run(base, queries, split.truth, split.k, options.passes, env)
        except fresh.ProbeError as exc:
            record.figure(SEARCH, labels[SEARCH], rabitq.ENGINE, "peer", None, f"failed: {exc}")
            return
    per_vector = result.resident_bytes / len(split.base)
    memory_note = f"{per_vector:,.0f} B/vector resident (floats kept for the rerank)"
    build = format_seconds(result.build)
    for factor, point in result.points:
        if factor == rabitq.HEADLINE_FACTOR:
            note = f"rerank factor {factor}, recall {point.recall:.3f}; {memory_note}; build {build}"
            record.figure(SEARCH, labels[SEARCH], rabitq.ENGINE, "peer", point.latency, note, recall=point.recall)
    _record_at_recall(record, labels, rabitq.ENGINE, "peer", result.points, "rerank factor")
    record.figure(MEMORY, labels[MEMORY], rabitq.ENGINE, "peer", Stat.of([per_vector]), memory_note, unit="B")


def _curve(
    name: str, kind: Kind, storage: str, version: str | None, builds: list[float], points: list[CurvePoint]
) -> dict[str, object]:
    """A curve for results.md's grid; ``variant_of`` keeps it off the float32 plot."""
    return {
        "engine": name,
        "kind": kind,
        "version": version,
        "variant_of": f"{storage} storage",
        "build": Stat.of(builds).to_dict() if builds else None,
        "builds": builds,
        "error": None,
        "points": [p.to_dict() for p in points],
    }
