"""The format decoder under arbitrary damage: a CorruptIndexError or a valid graph."""

from __future__ import annotations

import dataclasses
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ruvector_core as rv
from ruvector_core import index_format, quantization
from ruvector_core.models import FloatsPlacement, StorageKind


def _blob(rows: int = 40, storage: StorageKind = "float32", floats: FloatsPlacement = "resident") -> bytes:
    rng = np.random.default_rng(0)
    config = rv.HnswConfig(dimensions=5, m=3, ef_construction=20, storage=storage, floats=floats)
    index = rv.Runtime(backend="numpy").hnsw(config)
    index.insert_batch([f"id-{i}-é" for i in range(rows)], rng.standard_normal((rows, 5)))
    index.delete("id-3-é")
    return index.serialize()


BLOB = _blob()
QUANTIZED: list[tuple[StorageKind, FloatsPlacement]] = [
    ("int8", "resident"),
    ("int8", "none"),
    ("binary", "resident"),
    ("binary", "none"),
]
BLOBS = {f"{storage}-{floats}": _blob(storage=storage, floats=floats) for storage, floats in QUANTIZED}


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


@pytest.mark.parametrize("name", ["float32", *BLOBS])
@settings(max_examples=300, deadline=None)
@given(draw=st.data(), fix_checksum=st.booleans(), cut=st.integers(0, 64))
def test_damage_is_detected_or_harmless(name: str, draw: st.DataObject, fix_checksum: bool, cut: int) -> None:
    blob = BLOBS.get(name, BLOB)
    edit = st.tuples(st.integers(0, len(blob) - 5), st.integers(0, 255))
    edits = draw.draw(st.lists(edit, min_size=1, max_size=6))
    body = bytearray(blob[:-4])
    for position, value in edits:
        body[position] = value
    data = bytes(body) + (struct.pack("<I", zlib.crc32(body)) if fix_checksum else blob[-4:])
    data = data[: len(data) - cut]
    try:
        graph = index_format.decode(data)
    except rv.CorruptIndexError:
        return
    assert index_format.encode(graph) == data  # what loads is a faithful, valid index


@pytest.mark.parametrize(("storage", "floats"), QUANTIZED)
def test_version_2_layout_matches_the_docs(storage: StorageKind, floats: FloatsPlacement) -> None:
    """Header fields, the exact length formula of docs/format.md, and a faithful round trip."""
    blob = BLOBS[f"{storage}-{floats}"]
    fields = index_format.HEADER.unpack_from(blob)
    version, storage_byte, n, flags = fields[1], fields[3], fields[8], fields[12]
    id_bytes, links = fields[14], fields[15]
    assert (version, storage_byte) == (2, {"int8": 1, "binary": 2}[storage])
    assert flags == (1 if floats == "resident" else 0)
    graph = index_format.decode(blob)
    assert (graph.config.storage, graph.config.floats) == (storage, floats)
    assert index_format.read_config(blob) == graph.config
    d = 5
    f = 4 * n * d if floats == "resident" else 0
    c = n * (d + 8) if storage == "int8" else n * ((d + 7) // 8 + 4)
    s = int(graph.levels.sum()) + n
    assert len(blob) == 72 + f + c + 2 * n + 4 * (n + 1) + id_bytes + 4 * s + 4 * links + 4
    assert index_format.encode(graph) == blob
    assert graph.codes is not None and graph.codes.kind == storage
    if graph.vectors is not None:  # the stored codes are the stored floats' own
        fresh = quantization.quantize(graph.vectors, graph.codes.kind)
        assert np.array_equal(fresh.codes, graph.codes.codes)


def test_float32_is_still_version_1() -> None:
    assert index_format.HEADER.unpack_from(BLOB)[1] == 1 and BLOB[11] == 0
    assert index_format.decode(BLOB).codes is None


def _binary_graph() -> index_format.GraphData:
    return index_format.decode(BLOBS["binary-resident"])


def test_a_binary_scale_off_by_its_last_bit_is_corrupt() -> None:
    """Every implementation sums |x| in component order, so the stored scale is the floats'
    own, bit for bit: one ulp off is a corrupt file."""
    graph = _binary_graph()
    assert graph.codes is not None
    scales = graph.codes.scales.copy()
    scales[1] = np.nextafter(scales[1], np.float32(np.inf))
    blob = index_format.encode(dataclasses.replace(graph, codes=graph.codes.model_copy(update={"scales": scales})))
    with pytest.raises(rv.CorruptIndexError, match="not the quantization"):
        index_format.decode(blob)


def test_binary_scales_are_running_sums() -> None:
    """The mean |x| is a float64 running sum in component order: rows whose pairwise sum
    would round differently get the running sum's float."""
    rng = np.random.default_rng(4)
    rows = (rng.standard_normal((200, 384)) * np.exp(rng.uniform(-30, 30, size=(200, 384)))).astype(np.float32)
    running = np.array([sum(abs(float(x)) for x in row) / 384 for row in rows], dtype=np.float32)
    assert np.array_equal(quantization.quantize(rows, "binary").scales, running)


def test_graph_data_refuses_inconsistent_parts() -> None:
    """What a backend hands the encoder must match its configuration."""
    graph = _binary_graph()
    with pytest.raises(ValueError, match="has no vectors"):
        dataclasses.replace(graph, config=graph.config.model_copy(update={"floats": "none"}))
    with pytest.raises(ValueError, match="needs codes"):
        dataclasses.replace(graph, codes=None)
    float32 = index_format.decode(BLOB)
    with pytest.raises(ValueError, match="has no codes"):
        dataclasses.replace(float32, codes=quantization.quantize(float32.vectors, "int8"))  # type: ignore[arg-type]


def test_load_bound_counts_codes_instead_of_floats() -> None:
    config = rv.HnswConfig(dimensions=384, m=16)
    links = 4 * (2 * 16 + 1)
    assert index_format.load_bytes(config, 10, 0) == 10 * (4 * 384 + links)
    int8 = config.model_copy(update={"storage": "int8", "floats": "none"})
    assert index_format.load_bytes(int8, 10, 0) == 10 * (384 + 8 + links)
    binary = config.model_copy(update={"storage": "binary"})
    assert index_format.load_bytes(binary, 10, 0) == 10 * (4 * 384 + 48 + 4 + links)
