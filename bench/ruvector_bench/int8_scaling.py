"""Per-vector or per-dimension int8 scaling: which keeps recall@10 better on real embeddings?

    python -m ruvector_bench.int8_scaling

A one-off measurement behind the int8 storage's choice (docs/format.md, "Version 2"): the
conformance suite's 3,000 MiniLM embeddings of documentation text and its 200 queries,
ranked by exhaustive scan (no graph, so only the quantization differs) with the similarity
of the float query to each decoded row. Per-vector is the index's quantizer (each row's own
min and max over 255 steps); per-dimension fits each column's min and max over the base
rows. Prints recall@10 against exact float neighbours without re-ranking and after
re-ranking the best R by the exact similarity, and the mean absolute similarity error.
"""

from __future__ import annotations

import sys

import numpy as np
from numpy.typing import NDArray

from ruvector_core import quantization

from .dataset import fixture_embeddings
from .recall import recall_at_k

K = 10
QUERY_ROWS = 200  # the conformance suite's split: the first 200 rows are the queries
RERANK = (10, 20, 50)


def per_vector(base: NDArray[np.float32]) -> NDArray[np.float32]:
    """Rows decoded from the index's own int8 codes (per-row affine)."""
    return quantization.dequantize(quantization.quantize(base, "int8")).astype(np.float32)


def per_dimension(base: NDArray[np.float32]) -> NDArray[np.float32]:
    """Rows decoded from int8 codes with one affine map per dimension (fitted on the base)."""
    low = base.min(axis=0).astype(np.float64)
    scale = (base.max(axis=0).astype(np.float64) - low) / quantization.INT8_LEVELS
    safe = np.where(scale > 0, scale, 1.0)
    levels = np.clip(np.rint((base - low) / safe), 0, quantization.INT8_LEVELS)
    return (levels * scale + low).astype(np.float32)


def measure(name: str, decoded: NDArray[np.float32], queries: NDArray[np.float32], base: NDArray[np.float32]) -> None:
    exact = queries.astype(np.float64) @ base.astype(np.float64).T
    approx = queries.astype(np.float64) @ decoded.astype(np.float64).T
    truth = np.argsort(-exact, axis=1, kind="stable")[:, :K]
    order = np.argsort(-approx, axis=1, kind="stable")
    cells = []
    for r in RERANK:
        candidates = order[:, :r]
        rescored = np.take_along_axis(exact, candidates, axis=1)
        best = np.take_along_axis(candidates, np.argsort(-rescored, axis=1, kind="stable")[:, :K], axis=1)
        cells.append(f"R={r}: {recall_at_k(best, truth):.4f}")
    error = float(np.abs(approx - exact).mean())
    print(f"{name:<14} recall@10 {'  '.join(cells)}  mean |sim error| {error:.2e}")


def main() -> int:
    fixture = fixture_embeddings()
    if fixture is None:
        print("this measurement needs the ruvec-conformance fixture: install ruvec-conformance", file=sys.stderr)
        return 1
    queries, base = fixture.vectors[:QUERY_ROWS], fixture.vectors[QUERY_ROWS:]
    print(f"{len(base)} base rows x {base.shape[1]} dimensions, {len(queries)} queries (scan)")
    measure("per-vector", per_vector(base), queries, base)
    measure("per-dimension", per_dimension(base), queries, base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
