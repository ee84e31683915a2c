"""Index graphs crafted for the hostile-input checks and the loader fuzzer."""

from __future__ import annotations

import numpy as np

import ruvector_core as rv
from ruvector_core import quantization
from ruvector_core.index_format import GraphData
from ruvector_core.models import Metric, QuantizationKind, StorageKind


def linkless_graph(
    n: int, d: int, m: int, level: int, metric: Metric = "euclidean", storage: StorageKind = "float32"
) -> GraphData:
    """``n`` nodes all on ``level`` with every neighbour list empty: a valid, tiny file that
    expands hugely on load when ``m`` and ``level`` are large. Code kinds keep no floats."""
    floats = "resident" if storage == "float32" else "none"
    config = rv.HnswConfig(dimensions=d, m=m, ef_construction=8, metric=metric, seed=1, storage=storage, floats=floats)
    rows = np.ones((n, d), dtype=np.float32)
    kind: QuantizationKind = "int8" if storage == "int8" else "binary"
    return GraphData(
        config=config,
        vectors=rows if storage == "float32" else None,
        levels=np.full(n, level, dtype=np.uint8),
        deleted=np.zeros(n, dtype=bool),
        ids=[f"n{i}" for i in range(n)],
        list_sizes=np.zeros(n * (level + 1), dtype=np.uint32),
        links=np.zeros(0, dtype=np.uint32),
        entry_point=0,
        codes=None if storage == "float32" else quantization.quantize(rows, kind),
    )
