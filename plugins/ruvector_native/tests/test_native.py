"""The native plugin's own checks (the conformance suite covers the protocol)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import ruvector_core as rv
from ruvector_conformance.data import corpus

native = pytest.importorskip("ruvector_native._native")
from ruvector_native._adapters import NativeHnsw  # noqa: E402 - only once the extension is known to load


def test_spec_is_cheap() -> None:
    code = (
        "import sys, ruvector_native; assert 'ruvector_native._native' not in sys.modules;"
        " print(ruvector_native.SPEC.name)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "native"


def test_backend_is_usable_and_ranked_first() -> None:
    rt = rv.Runtime()
    info = {i.name: i for i in rt.info()}
    assert info["native"].usable and info["native"].priority == 100
    assert rv.Runtime(backend="native").backend == "native"


def test_bytes_do_not_depend_on_thread_count() -> None:
    data = corpus()
    rt = rv.Runtime(backend="native")
    blobs = []
    before = native.get_threads()
    try:
        for threads in (1, 2, 3):
            native.set_threads(threads)
            ix = rt.hnsw(rv.HnswConfig(dimensions=384, m=8, ef_construction=40, seed=5))
            ix.insert_batch(data.ids[:1500], data.base[:1500])
            ix.insert_batch(data.ids[1500:2000], data.base[1500:2000])
            blobs.append(ix.serialize())
    finally:
        native.set_threads(before)
    assert blobs[0] == blobs[1] == blobs[2]
    with pytest.raises(ValueError):
        native.set_threads(0)


def test_numpy_written_index_loads_and_grows_identically() -> None:
    """Inserts after loading bytes written here match inserts into the original."""
    data = corpus()
    rt = rv.Runtime(backend="native")
    ix = rt.hnsw(rv.HnswConfig(dimensions=384, m=6, ef_construction=32, metric="euclidean", seed=3))
    ix.insert_batch(data.ids[:400], data.base[:400])
    loaded = rt.hnsw_load(ix.serialize())
    for index in (ix, loaded):
        index.insert_batch(data.ids[400:900], data.base[400:900])
        index.delete("doc-5")
    assert loaded.serialize() == ix.serialize()


def test_loader_errors_are_corrupt_index_errors() -> None:
    rt = rv.Runtime(backend="native")
    ix = rt.hnsw(rv.HnswConfig(dimensions=4, m=2))
    ix.insert_batch(["a", "b", "c"], np.eye(3, 4, dtype=np.float32))
    blob = bytearray(ix.serialize())
    blob[80] ^= 1
    with pytest.raises(rv.CorruptIndexError, match="checksum"):
        rt.hnsw_load(bytes(blob))
    with pytest.raises(rv.CorruptIndexError, match="version"):
        NativeHnsw(ix.config, b"RUVHNSW\0" + bytes(100))


def test_batch_distance_parallel_matches_serial() -> None:
    rng = np.random.default_rng(1)
    m = rng.standard_normal((40_000, 33)).astype(np.float32)
    q = rng.standard_normal(33).astype(np.float32)
    k = native.Kernels()
    before = native.get_threads()
    try:
        native.set_threads(1)
        serial = k.batch_distance(q, m, "cosine")
        native.set_threads(2)
        parallel = k.batch_distance(q, m, "cosine")
    finally:
        native.set_threads(before)
    assert np.array_equal(serial, parallel)


def test_filtered_search_scans_exactly_and_batches_alike_on_any_thread_count() -> None:
    """With 10 of 1,000 allowed the allowed vectors are scanned exactly, so the hits are
    brute force's; at 75 % the walk gives the same rows on one thread or two."""
    data = corpus()
    index = rv.Runtime(backend="native").hnsw(rv.HnswConfig(dimensions=384, m=8, ef_construction=40, seed=5))
    index.insert_batch(data.ids[:1000], data.base[:1000])
    queries = data.queries[:10]
    rows = np.arange(0, 1000, 100)
    for query in queries:
        hits = index.search(query, k=5, allow=[data.ids[r] for r in rows])
        sims = data.base[rows] @ query
        best = np.argsort(-sims, kind="stable")[:5]
        assert hits.ids == [data.ids[rows[i]] for i in best]
        assert np.allclose(hits.scores, sims[best], atol=1e-5)
    allow = index.allowlist([id_ for row, id_ in enumerate(data.ids[:1000]) if row % 4])
    before = native.get_threads()
    try:
        batches = []
        for threads in (1, 2):
            native.set_threads(threads)
            batches.append(index.search_batch(queries, k=10, allow=allow))
    finally:
        native.set_threads(before)
    assert np.array_equal(batches[0][0], batches[1][0]) and np.array_equal(batches[0][1], batches[1][1])
