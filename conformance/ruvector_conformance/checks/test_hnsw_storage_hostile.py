"""Hostile version 2 bytes (docs/format.md, checks 10 to 12): codes that disagree with the
floats beside them, scales and offsets that are negative, not finite or decode beyond
2^54, set padding bits, unknown storage kinds and flags, and files that would expand
beyond the load bound. The bytes are written by the reference backend and patched with a
valid checksum, so only a loader's own checks can object; every backend must refuse each
one with a CorruptIndexError."""

from __future__ import annotations

import struct

import numpy as np
import pytest

import ruvector_core as rv
from ruvector_core import index_format
from ruvector_core.models import MAX_COMPONENT, MAX_LEVEL, FloatsPlacement, StorageKind

from ..crafted import linkless_graph
from .hostile_bytes import not_refused, patched, with_checksum

pytestmark = pytest.mark.capability("hnsw")

HEADER_SIZE = 72
ROWS, DIMS = 80, 13  # 13 dimensions: a binary row leaves 3 padding bits in its last byte


def _blob(reference: rv.Runtime, storage: StorageKind, floats: FloatsPlacement) -> bytes:
    rng = np.random.default_rng(21)
    config = rv.HnswConfig(dimensions=DIMS, m=4, ef_construction=16, metric="euclidean", storage=storage, floats=floats)
    index = reference.hnsw(config)
    index.insert_batch([f"r{i}" for i in range(ROWS)], rng.normal(size=(ROWS, DIMS)).astype(np.float32))
    return index.serialize()


def _sections(storage: StorageKind, floats: FloatsPlacement) -> tuple[int, int, int]:
    """Offsets of the codes, the scales and the int8 offsets (lows) of a ``_blob``."""
    codes_at = HEADER_SIZE + (4 * ROWS * DIMS if floats == "resident" else 0)
    width = DIMS if storage == "int8" else (DIMS + 7) // 8
    scales_at = codes_at + ROWS * width
    return codes_at, scales_at, scales_at + 4 * ROWS


def _variants(reference: rv.Runtime, storage: StorageKind, floats: FloatsPlacement) -> dict[str, bytes]:
    blob = _blob(reference, storage, floats)
    codes_at, scales_at, lows_at = _sections(storage, floats)
    scale = struct.unpack_from("<f", blob, scales_at + 4)[0]
    variants = {
        "storage kind 0 in version 2": patched(blob, 11, "<B", 0),
        "storage kind 3": patched(blob, 11, "<B", 3),
        "unknown flag bit": patched(blob, 44, "<I", struct.unpack_from("<I", blob, 44)[0] | 2),
        "floats flag flipped": patched(blob, 44, "<I", struct.unpack_from("<I", blob, 44)[0] ^ 1),
        "version 1 with a storage kind": patched(blob, 8, "<H", 1),
        "negative scale": patched(blob, scales_at + 4, "<f", -abs(scale) - 1.0),
        "nan scale": patched(blob, scales_at + 4, "<I", 0x7FC00000),
        "infinite scale": patched(blob, scales_at + 4, "<f", float("inf")),
        "truncated in the codes": with_checksum(blob[: codes_at + 3]),
    }
    if storage == "int8":
        variants["nan offset"] = patched(blob, lows_at + 8, "<I", 0x7FC00000)
        variants["offset beyond 2^54"] = patched(blob, lows_at + 8, "<f", -4.0 * MAX_COMPONENT)
        variants["offset plus 255 scales beyond 2^54"] = patched(blob, scales_at + 8, "<f", MAX_COMPONENT / 100)
    else:
        variants["scale beyond 2^54"] = patched(blob, scales_at + 8, "<f", 4.0 * MAX_COMPONENT)
        last = codes_at + (DIMS + 7) // 8 - 1  # the last byte of the first row
        variants["padding bit set"] = patched(blob, last, "<B", blob[last] | 0x01)
    if floats == "resident":
        first = blob[codes_at]
        variants["code disagrees with its floats"] = patched(blob, codes_at, "<B", first ^ 0x40)
        variants["scale disagrees with its floats"] = patched(blob, scales_at + 4, "<f", scale * 1.5)
        if storage == "int8":
            low = struct.unpack_from("<f", blob, lows_at + 4)[0]
            variants["offset disagrees with its floats"] = patched(blob, lows_at + 4, "<f", low - 0.25)
    return variants


@pytest.mark.parametrize(
    ("storage", "floats"), [("int8", "resident"), ("int8", "none"), ("binary", "resident"), ("binary", "none")]
)
def test_rejects_hostile_version_2(
    runtime: rv.Runtime, reference: rv.Runtime, storage: StorageKind, floats: FloatsPlacement
) -> None:
    """The untouched bytes load; every variant is a CorruptIndexError, never anything else."""
    blob = _blob(reference, storage, floats)
    assert runtime.hnsw_load(blob).serialize() == blob, "the untouched bytes must load"
    accepted = not_refused(runtime, _variants(reference, storage, floats))
    assert not accepted, accepted


@pytest.mark.parametrize("storage", ["int8", "binary"])
def test_refuses_a_code_file_that_expands_hugely(runtime: rv.Runtime, storage: StorageKind) -> None:
    """About 1 MB of code-only nodes on layer 63 with m = 256 would take about 260 MB: the
    load bound counts the codes, and refuses it before allocating."""
    blob = index_format.encode(linkless_graph(4_000, 1, 256, MAX_LEVEL, storage=storage))
    assert len(blob) < 1_200_000
    with pytest.raises(rv.CorruptIndexError, match="memory"):
        runtime.hnsw_load(blob)
