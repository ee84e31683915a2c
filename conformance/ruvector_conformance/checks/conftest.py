"""Indexes shared by the HNSW checks: built once per backend, never mutated."""

from __future__ import annotations

import pytest

import ruvector_core as rv
from ruvector_core.models import Metric

from ..data import corpus

RECALL_CONFIG = rv.HnswConfig(dimensions=384, m=16, ef_construction=100, ef_search=64, metric="cosine", seed=1)


@pytest.fixture(scope="session")
def corpus_index(runtime: rv.Runtime) -> rv.HnswIndex:
    """The 3,000-row real-embedding index (M=16, ef_construction=100)."""
    index = runtime.hnsw(RECALL_CONFIG)
    index.insert_batch(corpus().ids, corpus().base)
    return index


def small_index(runtime: rv.Runtime, rows: int = 300, metric: Metric = "cosine", m: int = 8) -> rv.HnswIndex:
    """A fresh index over the first ``rows`` base vectors, for checks that change it."""
    data = corpus()
    index = runtime.hnsw(rv.HnswConfig(dimensions=384, m=m, ef_construction=64, metric=metric, seed=2))
    index.insert_batch(data.ids[:rows], data.base[:rows])
    return index
