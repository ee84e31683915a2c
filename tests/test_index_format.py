"""The format decoder under arbitrary damage: a CorruptIndexError or a valid graph."""

from __future__ import annotations

import struct
import zlib

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import ruvector_core as rv
from ruvector_core import index_format


def _blob(rows: int = 40) -> bytes:
    rng = np.random.default_rng(0)
    index = rv.Runtime(backend="numpy").hnsw(rv.HnswConfig(dimensions=5, m=3, ef_construction=20))
    index.insert_batch([f"id-{i}-é" for i in range(rows)], rng.standard_normal((rows, 5)))
    index.delete("id-3-é")
    return index.serialize()


BLOB = _blob()


def test_header_layout_matches_the_docs() -> None:
    assert index_format.HEADER.size == 72
    magic, version, metric, _, dims, m, efc, efs, n, deleted, entry, top, _, seed, id_bytes, links = (
        index_format.HEADER.unpack_from(BLOB)
    )
    assert (magic, version, metric, dims, m, efc, efs, n, deleted, seed) == (b"RUVHNSW\0", 1, 0, 5, 3, 20, 50, 40, 1, 0)
    graph = index_format.decode(BLOB)
    assert graph.entry_point == entry and graph.max_level == top and graph.links.size == links
    assert id_bytes == sum(len(i.encode()) for i in graph.ids)
    assert struct.unpack("<I", BLOB[-4:])[0] == zlib.crc32(BLOB[:-4])
    assert index_format.encode(graph) == BLOB


def test_empty_index_round_trips() -> None:
    empty = rv.Runtime(backend="numpy").hnsw(rv.HnswConfig(dimensions=3)).serialize()
    assert len(empty) == 72 + 4 + 4  # header, one id offset, checksum
    assert rv.Runtime(backend="numpy").hnsw_load(empty).search([1.0, 2.0, 3.0], k=3) == []


@settings(max_examples=300, deadline=None)
@given(
    edits=st.lists(st.tuples(st.integers(0, len(BLOB) - 5), st.integers(0, 255)), min_size=1, max_size=6),
    fix_checksum=st.booleans(),
    cut=st.integers(0, 64),
)
def test_damage_is_detected_or_harmless(edits: list[tuple[int, int]], fix_checksum: bool, cut: int) -> None:
    body = bytearray(BLOB[:-4])
    for position, value in edits:
        body[position] = value
    data = bytes(body) + (struct.pack("<I", zlib.crc32(body)) if fix_checksum else BLOB[-4:])
    data = data[: len(data) - cut]
    try:
        graph = index_format.decode(data)
    except rv.CorruptIndexError:
        return
    assert index_format.encode(graph) == data  # what loads is a faithful, valid index
