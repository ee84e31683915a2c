"""What the "dynamic" address-space reservation costs a search (``RUVECTOR_WASM_RESERVE``).

Builds the same index twice in one process, once in an engine with wasmtime's 4 GiB static
reservation (no bounds checks) and once in one with dynamic memories (bounds-checked), then
times single-query and batch searches in alternating rounds, so that a loaded machine slows
both alike. Prints the median microseconds per query of each and their ratio.

    python plugins/ruvector_wasm/tools/reservation_cost.py [--rows 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import ruvector_core as rv
from ruvector_wasm import _host
from ruvector_wasm._hnsw import WasmHnsw


def engine(mode: str) -> _host._Shared:
    os.environ[_host.ENV_RESERVE] = mode
    return _host._Shared()


def build(sh: _host._Shared, config: rv.HnswConfig, x: np.ndarray) -> WasmHnsw:
    _host._shared = sh  # new instances take the process's engine
    graph = WasmHnsw(config)
    for start in range(0, len(x), 2000):
        rows = x[start : start + 2000]
        graph.insert_batch([str(i) for i in range(start, start + len(rows))], rows)
    return graph


def per_query_us(graph: WasmHnsw, queries: np.ndarray, batch: bool) -> float:
    start = time.perf_counter()
    if batch:
        graph.search_batch(queries, 10, 64)
    else:
        for q in queries:
            graph.search(q, 10, 64)
    return (time.perf_counter() - start) / len(queries) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.rows, 384)).astype(np.float32)
    queries = rng.standard_normal((args.queries, 384)).astype(np.float32)
    config = rv.HnswConfig(dimensions=384, m=16, ef_construction=100, seed=1)
    graphs = {mode: build(engine(mode), config, x) for mode in ("static", "dynamic")}
    for batch in (False, True):
        times: dict[str, list[float]] = {mode: [] for mode in graphs}
        for _ in range(args.rounds):
            for mode, graph in graphs.items():
                times[mode].append(per_query_us(graph, queries, batch))
        med = {mode: statistics.median(t) for mode, t in times.items()}
        kind = "search_batch" if batch else "search"
        print(
            f"{kind:>12}: static {med['static']:.1f} us/query, dynamic {med['dynamic']:.1f} us/query, "
            f"dynamic/static {med['dynamic'] / med['static']:.3f} ({args.rows} x 384, k 10, ef 64, "
            f"median of {args.rounds} alternating rounds)"
        )


if __name__ == "__main__":
    main()
