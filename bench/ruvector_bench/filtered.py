"""The filtered-search section: the k nearest among an allowed subset of the base, at 50, 10,
1 and 0.1 % selectivity, for every ruvector backend serving ``hnsw`` beside the peers'
own filters and beside post-filtering.

- ruvector: ``index.search(query, k, ef, allow=allowlist)``, the filter applied inside the
  graph walk (the allowlist is prepared once per selectivity, untimed).
- hnswlib: ``knn_query(query, k, filter=callable)``, its filter functor (a Python call per
  visited node).
- FAISS: ``IndexHNSWFlat.search`` with ``SearchParametersHNSW(sel=IDSelectorBatch(ids))``.
- post-filter: the fastest ruvector backend searched unfiltered for ``k / selectivity``
  hits (beam widened to match), then the allowed ones kept: what a store that filters after
  the search returns, with fewer than k hits when the filter is selective.

Recall is against exact float64 brute force over the allowed rows; each figure's note says
the recall, how many queries got fewer than ``min(k, allowed)`` hits, and the same
engine's unfiltered latency at the same ``ef``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import partial
from importlib.util import find_spec

import numpy as np

from ruvector_core.hnsw_index import AllowList, HnswIndex
from ruvector_core.models import HnswConfig
from ruvector_core.runtime import Runtime

from .context import Context
from .engines import EF_CONSTRUCTION, M, package_version
from .results import Kind
from .timing import Stat, format_seconds

SELECTIVITIES = (0.5, 0.1, 0.01, 0.001)
Searcher = Callable[[np.ndarray], list[int]]  # one query -> base rows, best first


def case_of(fraction: float) -> str:
    return f"filtered_search_{fraction * 100:g}pct".replace(".", "_")


def allowed_rows(rows: int, fraction: float, seed: int = 0) -> np.ndarray:
    """A seeded random subset of ``rows`` (at least one row), sorted."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(rows, size=max(1, round(rows * fraction)), replace=False))


def exact_filtered(queries: np.ndarray, base: np.ndarray, allowed: np.ndarray, k: int) -> list[set[int]]:
    """The rows of the exact ``min(k, allowed)`` nearest allowed vectors (cosine, float64)."""
    unit = base[allowed].astype(np.float64)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    q = queries.astype(np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    order = np.argsort(-(q @ unit.T), axis=1, kind="stable")[:, :k]
    return [{int(allowed[i]) for i in row} for row in order]


def ruvector_searcher(index: HnswIndex, allow: AllowList | None, ef: int, k: int) -> Searcher:
    def search(query: np.ndarray) -> list[int]:
        return [int(i) for i in index.search(query, k=k, ef=ef, allow=allow).ids]

    return search


def postfilter_searcher(index: HnswIndex, allowed: set[int], fraction: float, ef: int, k: int) -> Searcher:
    wide = min(len(index), math.ceil(k / fraction))

    def search(query: np.ndarray) -> list[int]:
        hits = index.search(query, k=wide, ef=max(ef, wide)).ids
        return [row for row in map(int, hits) if row in allowed][:k]

    return search


def hnswlib_searchers(base: np.ndarray, threads: int) -> Callable[[set[int], int, int], Searcher] | None:
    if find_spec("hnswlib") is None:
        return None
    import hnswlib

    index = hnswlib.Index(space="cosine", dim=base.shape[1])
    index.init_index(max_elements=len(base), M=M, ef_construction=EF_CONSTRUCTION, random_seed=0)
    index.add_items(base, np.arange(len(base)), num_threads=threads)

    def searcher(allowed: set[int], ef: int, k: int) -> Searcher:
        index.set_ef(max(ef, k))
        keep = allowed.__contains__

        def search(query: np.ndarray) -> list[int]:
            try:
                labels, _ = index.knn_query(query, k=min(k, len(allowed)), filter=keep, num_threads=1)
            except RuntimeError:  # hnswlib raises when its walk finds fewer than k allowed items
                return []
            return [int(i) for i in labels[0]]

        return search

    return searcher


def faiss_searchers(base: np.ndarray) -> Callable[[set[int], int, int], Searcher] | None:
    if find_spec("faiss") is None:
        return None
    import faiss

    unit = np.ascontiguousarray(base / np.linalg.norm(base, axis=1, keepdims=True), dtype=np.float32)
    index = faiss.IndexHNSWFlat(unit.shape[1], M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    index.add(unit)

    def searcher(allowed: set[int], ef: int, k: int) -> Searcher:
        selector = faiss.IDSelectorBatch(np.fromiter(allowed, dtype=np.int64))
        params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(ef, k))  # type: ignore[attr-defined]  # in faiss, missing from its stub

        def search(query: np.ndarray) -> list[int]:
            q = np.ascontiguousarray(query[None, :] / np.linalg.norm(query), dtype=np.float32)
            _, labels = index.search(q, k, params=params)
            return [int(i) for i in labels[0] if i >= 0]

        search.selector = selector  # type: ignore[attr-defined]  # FAISS keeps a raw pointer: keep the selector alive
        return search

    return searcher


def section(context: Context) -> None:
    options, split, record = context.options, context.split, context.record
    k, ef = options.k, options.headline_ef
    base, queries = split.base, split.queries
    backends = context.selection.hnsw
    rows = len(base)
    label = f"filtered search k={k}, ef={ef}, {{pct}} of {rows:,} x {base.shape[1]} allowed"
    if not backends:
        for fraction in SELECTIVITIES:
            record.skip(case_of(fraction), label.format(pct=f"{fraction:.1%}"), "no selected backend serves `hnsw`")
        return
    context.progress.expect(len(SELECTIVITIES))
    ids = [str(i) for i in range(rows)]
    indexes: dict[str, HnswIndex] = {}
    for backend in backends:
        index = Runtime(backends={"hnsw": backend}).hnsw(
            HnswConfig(dimensions=base.shape[1], m=M, ef_construction=EF_CONSTRUCTION, ef_search=ef)
        )
        index.insert_batch(ids, base)
        indexes[backend] = index
    peers: dict[str, Callable[[set[int], int, int], Searcher]] = {}
    if options.peers:
        makers = {"hnswlib": partial(hnswlib_searchers, base, options.threads), "faiss": partial(faiss_searchers, base)}
        for name, maker in makers.items():
            made = maker()
            if made is not None:
                peers[name] = made
    unfiltered = {name: _median_latency(ruvector_searcher(ix, None, ef, k), queries) for name, ix in indexes.items()}
    fastest = min(unfiltered, key=unfiltered.__getitem__)
    for fraction in SELECTIVITIES:
        context.progress.step(f"filtered search, {fraction:.1%} allowed")
        allowed = allowed_rows(rows, fraction)
        allowed_set = {int(r) for r in allowed}
        truth = exact_filtered(queries, base, allowed, k)
        want = min(k, len(allowed))
        case, text = case_of(fraction), label.format(pct=f"{fraction:.1%}")
        searchers: dict[str, tuple[Kind, Searcher, str]] = {}
        for name, index in indexes.items():
            allow = index.allowlist(str(r) for r in allowed)
            note = f"unfiltered {format_seconds(unfiltered[name])}"
            searchers[name] = ("ruvector", ruvector_searcher(index, allow, ef, k), note)
        for name, make in peers.items():
            searchers[name] = ("peer", make(allowed_set, ef, k), f"{name} {package_version(name) or ''}".strip())
        searchers[f"post-filter ({fastest})"] = (
            "peer",
            postfilter_searcher(indexes[fastest], allowed_set, fraction, ef, k),
            f"{fastest} searched for {min(rows, math.ceil(k / fraction))} then filtered",
        )
        for name, (kind, search, note) in searchers.items():
            seconds, found = _run(search, queries)
            recall = sum(len(set(f) & t) for f, t in zip(found, truth, strict=True)) / (want * len(queries))
            short = sum(len(f) < want for f in found)
            detail = f"recall {recall:.3f}; {short} of {len(queries)} queries short of {want} hits; {note}"
            record.figure(case, text, name, kind, Stat.of(seconds), detail, recall=recall)


def _run(search: Searcher, queries: np.ndarray) -> tuple[list[float], list[list[int]]]:
    """Seconds and rows per query, one warm-up call first."""
    search(queries[0])
    seconds: list[float] = []
    found: list[list[int]] = []
    for query in queries:
        start = time.perf_counter()
        rows = search(query)
        seconds.append(time.perf_counter() - start)
        found.append(rows)
    return seconds, found


def _median_latency(search: Searcher, queries: np.ndarray) -> float:
    return Stat.of(_run(search, queries)[0]).median
