"""Benchmark the wasm backend beside hnswlib and the native backend, in one run.

    python plugins/ruvector_wasm/bench/bench_wasm.py [--json out.json] [--quick]

Data: /work/shared/datasets/stdlib_minilm_int8_f16.npy (11,700 x 384 real embeddings) cast
to float32: queries are the first 1,000 rows, the base the other 10,700. M=16,
ef_construction=100, cosine. Single-query search is one Python call per query through the
public API (``Runtime(backend=...).hnsw(HnswConfig(...)).search(q, k=10, ef=...)``); batch
search is ``search_batch`` / hnswlib's ``knn_query`` on all 1,000 queries. Recall@10 is
against exact brute force in float64. Every figure is the median of several runs, and all
libraries are measured interleaved in the same run (the machine is shared and noisy).

Per-call overhead: the backend's two call paths, wasmtime-py's public ``Func.__call__``
(``PublicCalls``) and ``wasmtime_func_call_unchecked`` with packed raw arguments
(``UncheckedCalls``), for a no-op export and for a whole search.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import ruvector_core as rv
from ruvector_wasm import _calls, abi

DATA = Path(os.environ.get("RUVECTOR_BENCH_DATA", "/work/shared/datasets/stdlib_minilm_int8_f16.npy"))
REPO = Path(__file__).resolve().parents[3]
M, EFC, K = 16, 100, 10
EFS = (10, 16, 24, 32, 40, 48, 64, 96, 128)
TARGET_RECALL = 0.95


def median_time(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def recall(found: list[list], truth: list[set]) -> float:
    return float(np.mean([len(set(f) & t) / K for f, t in zip(found, truth, strict=True)]))


def native_spec():
    try:
        import ruvector_native
    except ImportError:
        path = REPO / "plugins" / "ruvector_native" / "python"
        if not any(path.glob("ruvector_native/_native*.so")):
            return None
        sys.path.insert(0, str(path))
        import ruvector_native
    return ruvector_native.SPEC


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeat = 3 if args.quick else 5

    raw = np.load(DATA).astype(np.float32)
    queries, base = np.ascontiguousarray(raw[:1000]), np.ascontiguousarray(raw[1000:])
    n, d = base.shape
    ids = [f"doc-{i}" for i in range(n)]
    unit = base.astype(np.float64) / np.linalg.norm(base.astype(np.float64), axis=1, keepdims=True)
    qunit = queries.astype(np.float64) / np.linalg.norm(queries.astype(np.float64), axis=1, keepdims=True)
    exact = np.argsort(-(qunit @ unit.T), axis=1)[:, :K]
    truth_ids = [{ids[j] for j in row} for row in exact]
    truth_rows = [set(row.tolist()) for row in exact]

    config = rv.HnswConfig(dimensions=d, m=M, ef_construction=EFC, seed=1)
    spec = native_spec()
    plugins = [spec] if spec is not None else []
    libs: dict[str, dict] = {}
    report: dict = {"data": str(DATA), "base": n, "queries": len(queries), "m": M, "ef_construction": EFC, "k": K}

    import hnswlib

    h = hnswlib.Index(space="cosine", dim=d)
    h.init_index(max_elements=n, M=M, ef_construction=EFC, random_seed=1)
    t = time.perf_counter()
    h.add_items(base, np.arange(n), num_threads=1)
    libs["hnswlib"] = {"build_s": time.perf_counter() - t, "index": h}
    for name in ["wasm"] + (["native"] if spec else []):
        index = rv.Runtime(backend=name, plugins=plugins).hnsw(config)
        if name == "native":
            import ruvector_native._native as native_ext

            native_ext.set_threads(1)  # builds and single searches on one thread, like hnswlib's
        t = time.perf_counter()
        index.insert_batch(ids, base)
        libs[name] = {"build_s": time.perf_counter() - t, "index": index}
    report["build_seconds_one_thread"] = {k: round(v["build_s"], 3) for k, v in libs.items()}

    def single(name: str, ef: int):
        obj = libs[name]["index"]
        if name == "hnswlib":
            obj.set_ef(ef)
            return lambda: [obj.knn_query(q, k=K)[0][0] for q in queries]
        return lambda: [obj.search(q, k=K, ef=ef).ids for q in queries]

    def batch(name: str, ef: int, threads: int = -1):
        obj = libs[name]["index"]
        if name == "hnswlib":
            obj.set_ef(ef)
            return lambda: obj.knn_query(queries, k=K, num_threads=threads)[0]
        return lambda: obj.search_batch(queries, k=K, ef=ef)[0]

    curves: dict[str, list] = {name: [] for name in libs}
    for ef in EFS:
        for name in libs:  # interleaved: the same load on every library
            truth = truth_rows if name == "hnswlib" else truth_ids
            found = single(name, ef)()
            found = [list(f) for f in found]
            r = recall(found, truth)
            s = median_time(single(name, ef), repeat) / len(queries)
            b = median_time(batch(name, ef), repeat) / len(queries)
            row = {"ef": ef, "recall": round(r, 4), "single_us": round(s * 1e6, 2), "batch_us": round(b * 1e6, 2)}
            if name == "hnswlib":
                row["batch_1thread_us"] = round(median_time(batch(name, ef, 1), repeat) / len(queries) * 1e6, 2)
            curves[name].append(row)
            print(name, row, flush=True)
    report["curves"] = curves

    def at_target(name: str) -> dict | None:
        for row in curves[name]:
            if row["recall"] >= TARGET_RECALL:
                return row
        return None

    summary = {}
    ref = at_target("hnswlib")
    for name in libs:
        row = at_target(name)
        if row is None or ref is None:
            continue
        summary[name] = {
            "ef": row["ef"],
            "recall": row["recall"],
            "single_us": row["single_us"],
            "batch_us": row["batch_us"],
            "single_speed_vs_hnswlib": round(ref["single_us"] / row["single_us"], 3),
            "batch_speed_vs_hnswlib": round(ref["batch_us"] / row["batch_us"], 3),
            "batch_speed_vs_hnswlib_1thread": round(ref["batch_1thread_us"] / row["batch_us"], 3),
        }
    report["at_recall_0.95"] = summary
    print(json.dumps(summary, indent=1))

    report["call_overhead_us"] = call_overhead(libs["wasm"]["index"], queries, repeat)
    print(json.dumps(report["call_overhead_us"], indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


def call_overhead(index: rv.HnswIndex, queries: np.ndarray, repeat: int) -> dict:
    """The two call paths on the same index (loaded from ``index``'s bytes under each): a
    no-op export (``rv_pages``) as a bare bound call and through ``Instance.call`` (deadline
    and memory check included), and a whole search at ef=32 (``WasmHnsw.search``)."""
    blob = index.serialize()
    out: dict[str, float] = {}
    saved = _calls.USE_UNCHECKED
    try:
        for path in ("public", "unchecked"):
            _calls.USE_UNCHECKED = path == "unchecked"
            graph = rv.Runtime(backend="wasm").hnsw_load(blob)._graph
            for name, us in _path_overhead(graph, queries[:1000], repeat).items():
                out[f"{name}_{path}"] = us
    finally:
        _calls.USE_UNCHECKED = saved
    return {k: round(v, 2) for k, v in out.items()}


def _path_overhead(graph, queries: np.ndarray, repeat: int, number: int = 20000, ef: int = 32) -> dict:
    inst = graph._inst
    bare = inst.fn[abi.PAGES.name]

    def bare_noop() -> None:
        for _ in range(number):
            bare()

    def host_noop() -> None:
        for _ in range(number):
            inst.call(abi.PAGES)

    def search() -> None:
        for q in queries:
            graph.search(q, K, ef)

    with inst.lock:
        bare_us = median_time(bare_noop, repeat) / number * 1e6
        call_us = median_time(host_noop, repeat) / number * 1e6
    search_us = median_time(search, repeat) / len(queries) * 1e6
    return {"noop_bare": bare_us, "noop_call": call_us, f"search_ef{ef}": search_us}


if __name__ == "__main__":
    main()
