"""Benchmark the native backend against hnswlib (and numpy for vector ops), one run.

    python plugins/ruvector_native/bench/bench_native.py [--json out.json] [--quick]

Data: /work/shared/datasets/stdlib_minilm_int8_f16.npy (11,700 x 384 real embeddings):
queries are the first 1,000 rows, the base the other 10,700. M=16, ef_construction=100,
cosine. Search goes one Python call per query through the public API
(``Runtime(backend="native").hnsw(...).search``) and, for comparison, straight into the
backend object (no facade), so the facade's per-call cost is visible. Recall@10 is against
exact brute force in float64.

The int8 figures show what int8 quantization of the stored vectors costs in recall: the
graph is built over the dequantized int8 codes, which is what an index storing int8 would
compare against. The index itself keeps float32, so the memory figure is the size of the
codes (with their per-row scale and offset), not a measured RSS.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import ruvector_core as rv
import ruvector_native._native as native

DATA = Path(os.environ.get("RUVECTOR_BENCH_DATA", "/work/shared/datasets/stdlib_minilm_int8_f16.npy"))
M, EFC, K = 16, 100, 10
EFS = (10, 16, 24, 32, 48, 64, 96, 128, 200)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t.tolist())) / K for f, t in zip(found, truth, strict=True)]))


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def per_call(fn, number: int, repeat: int = 5) -> float:
    """Median over `repeat` runs of the mean time of one call, in seconds."""
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - t) / number)
    return statistics.median(runs)


def memory_child(library: str) -> None:
    """Build one index in this fresh process and print the RSS it added per vector."""
    raw = np.load(DATA).astype(np.float32)
    base = np.ascontiguousarray(raw[1000:])
    n, d = base.shape
    ids = [f"doc-{i}" for i in range(n)]
    if library == "native":
        rt = rv.Runtime(backend="native")
        native.set_threads(1)
        rt.hnsw(rv.HnswConfig(dimensions=d, m=M, ef_construction=EFC, seed=1))  # warm imports
        gc.collect()
        before = rss_bytes()
        ix = rt.hnsw(rv.HnswConfig(dimensions=d, m=M, ef_construction=EFC, seed=1))
        ix.insert_batch(ids, base)
        extra = {"stats_memory_bytes_per_vector": ix.stats().memory_bytes / n}
    else:
        import hnswlib

        gc.collect()
        before = rss_bytes()
        ix = hnswlib.Index(space="cosine", dim=d)
        ix.init_index(max_elements=n, ef_construction=EFC, M=M, random_seed=1)
        ix.add_items(base, np.arange(n), num_threads=1)
        extra = {}
    grown = rss_bytes() - before
    import ctypes

    ids.clear()
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed transient buffers back to the OS
    extra["rss_per_vector_after_malloc_trim"] = (rss_bytes() - before) / n
    print(json.dumps({"rss_per_vector": grown / n, **extra}))


def memory_per_vector(library: str) -> dict:
    import subprocess

    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", library], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--memory-child", choices=["native", "hnswlib"], help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--quick", action="store_true", help="fewer ef values and repeats")
    args = ap.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child)
    report: dict = {"isa": native.isa(), "cpus": os.cpu_count()}

    raw = np.load(DATA).astype(np.float32)
    queries, base = np.ascontiguousarray(raw[:1000]), np.ascontiguousarray(raw[1000:])
    n, d = base.shape
    ids = [f"doc-{i}" for i in range(n)]
    row_of = {i: r for r, i in enumerate(ids)}
    bn = base / np.linalg.norm(base, axis=1, keepdims=True)
    qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    truth = np.argsort(-(qn.astype(np.float64) @ bn.astype(np.float64).T), axis=1, kind="stable")[:, :K]
    print(f"data: base {n}x{d}, {len(queries)} queries, isa={native.isa()}")

    # ---- memory: each library in a fresh process ------------------------------------------
    for library in ("native", "hnswlib"):
        report[f"memory_{library}"] = memory_per_vector(library)
        print(f"memory {library}: {report[f'memory_{library}']}")

    # ---- build -----------------------------------------------------------------------
    rt = rv.Runtime(backend="native")
    config = rv.HnswConfig(dimensions=d, m=M, ef_construction=EFC, ef_search=64, metric="cosine", seed=1)
    builds = {}
    for threads in (1, os.cpu_count() or 1):
        native.set_threads(threads)
        gc.collect()
        before = rss_bytes()
        t = time.perf_counter()
        ix = rt.hnsw(config)
        ix.insert_batch(ids, base)
        builds[threads] = time.perf_counter() - t
        grown = rss_bytes() - before
        print(f"native build insert_batch threads={threads}: {builds[threads]:.2f} s, RSS +{grown / n:.0f} B/vector")
        report[f"native_build_s_threads{threads}"] = builds[threads]
        report[f"native_rss_per_vector_threads{threads}"] = grown / n
    native.set_threads(1)
    report["native_stats_memory_per_vector"] = ix.stats().memory_bytes / n
    # one Python call per vector (single-row inserts through the facade)
    if not args.quick:
        ix1 = rt.hnsw(config)
        t = time.perf_counter()
        for i in range(n):
            ix1.insert(ids[i], base[i])
        report["native_build_s_one_call_per_vector"] = time.perf_counter() - t
        print(f"native build, one insert() per vector: {report['native_build_s_one_call_per_vector']:.2f} s")
        del ix1

    import hnswlib

    hl_builds = {}
    for threads in (1, os.cpu_count() or 1):
        gc.collect()
        before = rss_bytes()
        t = time.perf_counter()
        hl = hnswlib.Index(space="cosine", dim=d)
        hl.init_index(max_elements=n, ef_construction=EFC, M=M, random_seed=1)
        hl.add_items(base, np.arange(n), num_threads=threads)
        hl_builds[threads] = time.perf_counter() - t
        grown = rss_bytes() - before
        print(f"hnswlib build threads={threads}: {hl_builds[threads]:.2f} s, RSS +{grown / n:.0f} B/vector")
        report[f"hnswlib_build_s_threads{threads}"] = hl_builds[threads]
        report[f"hnswlib_rss_per_vector_threads{threads}"] = grown / n
    hl.set_num_threads(1)

    # ---- search: one call per query ----------------------------------------------------
    graph = ix._graph  # the backend object behind the facade
    efs = EFS[1:7] if args.quick else EFS
    rows = []
    print(f"{'ef':>5} {'recall':>7} {'native qps':>11} {'raw qps':>9} {'hnswlib recall':>15} {'hnswlib qps':>12}")
    for ef in efs:
        found = [[row_of[h.id] for h in ix.search(q, k=K, ef=ef)] for q in queries]
        r_native = recall(found, truth)
        t_api = best_of(lambda ef=ef: [ix.search(q, k=K, ef=ef) for q in queries])
        t_raw = best_of(lambda ef=ef: [graph.search(q, K, max(ef, K)) for q in queries])
        hl.set_ef(max(ef, K))
        labels = [hl.knn_query(q, k=K)[0][0].tolist() for q in queries]
        r_hl = recall(labels, truth)
        t_hl = best_of(lambda: [hl.knn_query(q, k=K) for q in queries])
        row = dict(
            ef=ef,
            recall=r_native,
            qps=len(queries) / t_api,
            raw_qps=len(queries) / t_raw,
            hnswlib_recall=r_hl,
            hnswlib_qps=len(queries) / t_hl,
        )
        rows.append(row)
        print(
            f"{ef:>5} {r_native:>7.4f} {row['qps']:>11.0f} {row['raw_qps']:>9.0f}",
            f"{r_hl:>15.4f} {row['hnswlib_qps']:>12.0f}",
        )
    report["search"] = rows

    def qps_at(key_recall: str, key_qps: str, target: float = 0.95) -> float | None:
        """qps at the smallest ef reaching the target recall (linear in between)."""
        pts = [(r[key_recall], r[key_qps]) for r in rows]
        for (r0, q0), (r1, q1) in itertools.pairwise(pts):
            if r0 >= target:
                return q0
            if r1 >= target:
                return q0 + (q1 - q0) * (target - r0) / (r1 - r0)
        return None

    report["qps_at_recall_0.95"] = {
        "native_api": qps_at("recall", "qps"),
        "native_raw": qps_at("recall", "raw_qps"),
        "hnswlib": qps_at("hnswlib_recall", "hnswlib_qps"),
    }
    print("queries/s at recall@10 = 0.95 (interpolated):", report["qps_at_recall_0.95"])

    # facade cost per search call at ef=64: public API minus the backend object alone
    q0 = queries[0]
    t_api = per_call(lambda: ix.search(q0, k=K, ef=64), 2000)
    t_raw = per_call(lambda: graph.search(q0, K, 64), 2000)
    report["facade_us"] = dict(search_api=t_api * 1e6, search_backend=t_raw * 1e6, facade=(t_api - t_raw) * 1e6)
    print("per search call at ef=64 (us):", {k: round(v, 2) for k, v in report["facade_us"].items()})

    # int8: the same graph built over int8-quantized vectors (quantize, then dequantize),
    # searched with float queries; recall against the float truth
    codes = rt.vector_ops.quantize(base)
    ix8 = rt.hnsw(config)
    ix8.insert_batch(ids, rt.vector_ops.dequantize(codes))
    int8_rows = []
    for ef in efs:
        found8 = [[row_of[h.id] for h in ix8.search(q, k=K, ef=ef)] for q in queries]
        float_recall = next(r["recall"] for r in rows if r["ef"] == ef)
        int8_rows.append(dict(ef=ef, recall=recall(found8, truth), float_recall=float_recall))
    code_bytes = codes.codes.nbytes + codes.scales.nbytes + codes.offsets.nbytes
    report["int8"] = dict(search=int8_rows, code_bytes_per_vector=code_bytes / n, float_bytes_per_vector=4 * d)
    print(f"int8 codes: {code_bytes / n:.0f} B/vector vs float32 {4 * d} B/vector")
    for r in int8_rows:
        print(f"  ef={r['ef']:>4}: recall@10 int8 {r['recall']:.4f}, float {r['float_recall']:.4f}")
    del ix8

    # batch search throughput
    for threads in (1, os.cpu_count() or 1):
        native.set_threads(threads)
        t = best_of(lambda: ix.search_batch(queries, k=K, ef=64))
        report[f"search_batch_qps_threads{threads}"] = len(queries) / t
        hl.set_num_threads(threads)
        t = best_of(lambda: hl.knn_query(queries, k=K))
        report[f"hnswlib_batch_qps_threads{threads}"] = len(queries) / t
        print(
            f"search_batch ef=64 threads={threads}: native {report[f'search_batch_qps_threads{threads}']:.0f} q/s,"
            f" hnswlib {report[f'hnswlib_batch_qps_threads{threads}']:.0f} q/s"
        )
    native.set_threads(1)

    # ---- vector ops -----------------------------------------------------------------------
    ops = rt.vector_ops
    kern = ops._kernels
    a, b = queries[0].copy(), queries[1].copy()
    vo = {}
    vo["numpy_a_at_b_us"] = per_call(lambda: a @ b, 100000) * 1e6
    vo["native_kernel_distance_us"] = per_call(lambda: kern.distance(a, b, "cosine"), 100000) * 1e6
    vo["native_kernel_distance_dot_us"] = per_call(lambda: kern.distance(a, b, "dot"), 100000) * 1e6
    vo["facade_distance_us"] = per_call(lambda: ops.distance(a, b), 50000) * 1e6
    ref = rv.Runtime(backend="numpy").vector_ops
    vo["numpy_backend_facade_distance_us"] = per_call(lambda: ref.distance(a, b), 20000) * 1e6
    big = np.random.default_rng(0).standard_normal((100_000, d)).astype(np.float32)
    for threads in (1, os.cpu_count() or 1):
        native.set_threads(threads)
        for metric in ("cosine", "dot", "euclidean"):
            vo[f"batch_distance_100k_{metric}_threads{threads}_ms"] = (
                best_of(lambda metric=metric: kern.batch_distance(a, big, metric), 7) * 1e3
            )
    native.set_threads(1)
    vo["stream_sum_100k_ms"] = best_of(lambda: big.sum(dtype=np.float32), 7) * 1e3
    vo["numpy_matvec_100k_ms"] = best_of(lambda: big @ a, 7) * 1e3
    out = np.empty_like(big)
    words = big.view(np.uint64)
    vo["stream_or_reduce_100k_ms"] = best_of(lambda: np.bitwise_or.reduce(words), 7) * 1e3
    vo["numpy_copy_100k_ms"] = best_of(lambda: np.copyto(out, big), 7) * 1e3
    vo["bytes_100k"] = big.nbytes
    m200 = base[:1000]
    vo["quantize_int8_1000_ms"] = best_of(lambda: ops.quantize(m200), 7) * 1e3
    vo["quantize_int8_1000_numpy_ms"] = best_of(lambda: ref.quantize(m200), 7) * 1e3
    report["vector_ops"] = vo
    for key, value in vo.items():
        print(f"  {key}: {value:.3f}" if isinstance(value, float) else f"  {key}: {value}")

    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    sys.exit(main())
