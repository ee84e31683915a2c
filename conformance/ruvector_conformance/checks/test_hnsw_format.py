"""The one index format: round trips, loads across backends, and hostile bytes."""

from __future__ import annotations

import struct

import numpy as np
import pytest

import ruvector_core as rv
from ruvector_core.models import Metric

from ..data import corpus
from .conftest import small_index
from .hostile_bytes import not_refused, patched, with_checksum

pytestmark = pytest.mark.capability("hnsw")

HEADER_SIZE = 72


def _results(index: rv.HnswIndex, queries: np.ndarray) -> tuple[list[list[str]], np.ndarray]:
    ids, scores = index.search_batch(queries, k=10, ef=50)
    return [list(r) for r in ids], scores


def test_serialize_round_trip(runtime: rv.Runtime, corpus_index: rv.HnswIndex) -> None:
    """A loaded index answers exactly as the saved one did, and saves to the same bytes."""
    blob = corpus_index.serialize()
    loaded = runtime.hnsw_load(blob)
    assert loaded.backend == corpus_index.backend
    assert len(loaded) == len(corpus_index) and loaded.config == corpus_index.config
    want_ids, want_scores = _results(corpus_index, corpus().queries)
    got_ids, got_scores = _results(loaded, corpus().queries)
    assert got_ids == want_ids
    assert np.array_equal(got_scores, want_scores)
    assert loaded.serialize() == blob
    assert loaded.stats().model_dump(exclude={"memory_bytes"}) == corpus_index.stats().model_dump(
        exclude={"memory_bytes"}
    )


def test_round_trip_keeps_deletions_and_stays_writable(runtime: rv.Runtime) -> None:
    data = corpus()
    index = small_index(runtime)
    for id_ in data.ids[:300:3]:
        index.delete(id_)
    index.insert("doc-1", data.base[1500])  # a replaced id leaves a tombstone
    loaded = runtime.hnsw_load(index.serialize())
    assert set(loaded.ids()) == set(index.ids()) and len(loaded) == len(index)
    assert _results(loaded, data.queries[:30])[0] == _results(index, data.queries[:30])[0]
    for later in (index, loaded):
        later.insert_batch(data.ids[300:350], data.base[300:350])
    assert _results(loaded, data.queries[:30])[0] == _results(index, data.queries[:30])[0]
    assert loaded.serialize() == index.serialize(), "inserts after a load must follow the same level draws"


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot"])
def test_cross_backend_load(runtime: rv.Runtime, reference: rv.Runtime, metric: Metric) -> None:
    """An index written here loads in the reference backend and the other way round."""
    data = corpus()
    here = small_index(runtime, rows=500, metric=metric)
    there = small_index(reference, rows=500, metric=metric)
    for writer, reader in ((here, reference), (there, runtime)):
        loaded = reader.hnsw_load(writer.serialize())
        want_ids, want_scores = _results(writer, data.queries)
        got_ids, got_scores = _results(loaded, data.queries)
        agree = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(want_ids, got_ids, strict=True)])
        assert agree >= 0.99, f"results agree on {agree:.3f} of ids"
        assert np.allclose(got_scores, want_scores, atol=1e-4)


def hostile_variants(blob: bytes, n: int, d: int) -> dict[str, bytes]:
    vectors_end = HEADER_SIZE + 4 * n * d
    levels_at, flags_at = vectors_end, vectors_end + n
    links_at = len(blob) - 4 - 4 * struct.unpack_from("<Q", blob, 64)[0]
    sizes_at = links_at - 4 * (n + int(np.frombuffer(blob, np.uint8, n, levels_at).sum()))
    variants = {
        "empty": b"",
        "foreign": b"PK\x03\x04" + bytes(200),
        "header only": blob[:HEADER_SIZE],
        "flipped payload bit": blob[:500] + bytes([blob[500] ^ 0x10]) + blob[501:],
        "flipped checksum": blob[:-1] + bytes([blob[-1] ^ 0xFF]),
        "trailing garbage": with_checksum(blob[:-4] + b"xyz"),
        "bad magic": patched(blob, 0, "<B", ord("X")),
        "future version": patched(blob, 8, "<H", 2),
        "unknown metric": patched(blob, 10, "<B", 9),
        "zero dimensions": patched(blob, 12, "<I", 0),
        "huge dimensions": patched(blob, 12, "<I", 0xFFFFFFFF),
        "m of 1": patched(blob, 16, "<I", 1),
        "huge node count": patched(blob, 28, "<I", 0xFFFFFFFF),
        "node count off by one": patched(blob, 28, "<I", n + 1),
        "more deleted than nodes": patched(blob, 32, "<I", n + 5),
        "entry point out of range": patched(blob, 36, "<I", n + 3),
        "huge id bytes": patched(blob, 56, "<Q", 2**62),
        "huge link count": patched(blob, 64, "<Q", 2**61),
        "nan vector": patched(blob, HEADER_SIZE + 8, "<I", 0x7FC00000),
        "level above max": patched(blob, levels_at + 1, "<B", 60),
        "flag of 2": patched(blob, flags_at + 3, "<B", 2),
        "id offset backwards": patched(blob, flags_at + n + 4 * 5, "<I", 0),
        "oversized link list": patched(blob, sizes_at, "<I", 10_000),
        "link past the end": patched(blob, links_at, "<I", n + 7),
        "link to itself": patched(blob, links_at, "<I", 0),
    }
    for cut in (1, 4, 5, 100, len(blob) // 2, len(blob) - 5):
        variants[f"truncated by {cut}"] = blob[:-cut]
        variants[f"truncated to {cut}"] = blob[:cut]
    return variants


def test_rejects_corrupt_bytes(runtime: rv.Runtime) -> None:
    """Every hostile variant is a CorruptIndexError, never anything else, never accepted."""
    index = small_index(runtime, rows=120, m=4)
    blob = index.serialize()
    n, d = struct.unpack_from("<I", blob, 28)[0], struct.unpack_from("<I", blob, 12)[0]
    assert runtime.hnsw_load(blob).ids() == index.ids(), "the untouched bytes must load"
    accepted = not_refused(runtime, hostile_variants(blob, n, d))
    assert not accepted, accepted
    assert index.serialize() == blob


def test_rejects_random_bytes(runtime: rv.Runtime) -> None:
    rng = np.random.default_rng(13)
    blob = small_index(runtime, rows=60, m=4).serialize()
    for size in (0, 3, 75, 76, 200, 5000):
        with pytest.raises(rv.CorruptIndexError):
            runtime.hnsw_load(rng.bytes(size))
    for _ in range(200):  # random byte flips with the checksum made valid again
        body = bytearray(blob[:-4])
        for position in rng.integers(0, len(body), size=int(rng.integers(1, 4))):
            body[position] ^= int(rng.integers(1, 256))
        try:
            loaded = runtime.hnsw_load(with_checksum(bytes(body)))
        except rv.CorruptIndexError:
            continue
        # A flip inside a vector or an id may still be a valid index: it must then work.
        loaded.search(corpus().queries[0], k=5)
        loaded.serialize()
