"""Indexes shared by the HNSW checks: built once per backend, never mutated."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import ruvector_core as rv
from ruvector_core.models import FloatsPlacement, Metric, StorageKind

from ..data import corpus

RECALL_CONFIG = rv.HnswConfig(dimensions=384, m=16, ef_construction=100, ef_search=64, metric="cosine", seed=1)
#: every quantized storage kind with each place its floats may live
QUANTIZED: list[tuple[StorageKind, FloatsPlacement]] = [
    ("int8", "resident"),
    ("int8", "none"),
    ("binary", "resident"),
    ("binary", "none"),
]


@pytest.fixture(scope="session")
def corpus_index(runtime: rv.Runtime) -> rv.HnswIndex:
    """The 3,000-row real-embedding index (M=16, ef_construction=100)."""
    index = runtime.hnsw(RECALL_CONFIG)
    index.insert_batch(corpus().ids, corpus().base)
    return index


@pytest.fixture(scope="session")
def stored_corpus(runtime: rv.Runtime) -> Callable[[StorageKind, FloatsPlacement], rv.HnswIndex]:
    """The real-embedding index stored as each kind (the recall config with the default
    ef_search), built on first use and kept for the session."""
    built: dict[tuple[StorageKind, FloatsPlacement], rv.HnswIndex] = {}

    def get(storage: StorageKind, floats: FloatsPlacement) -> rv.HnswIndex:
        if (storage, floats) not in built:
            config = rv.HnswConfig(dimensions=384, m=16, ef_construction=100, seed=1, storage=storage, floats=floats)
            index = runtime.hnsw(config)
            index.insert_batch(corpus().ids, corpus().base)
            built[storage, floats] = index
        return built[storage, floats]

    return get


def small_index(
    runtime: rv.Runtime,
    rows: int = 300,
    metric: Metric = "cosine",
    m: int = 8,
    storage: StorageKind = "float32",
    floats: FloatsPlacement = "resident",
) -> rv.HnswIndex:
    """A fresh index over the first ``rows`` base vectors, for checks that change it."""
    data = corpus()
    config = rv.HnswConfig(
        dimensions=384, m=m, ef_construction=64, metric=metric, seed=2, storage=storage, floats=floats
    )
    index = runtime.hnsw(config)
    index.insert_batch(data.ids[:rows], data.base[:rows])
    return index
