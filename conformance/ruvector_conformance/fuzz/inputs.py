"""Fuzz inputs for the index loader, each a pure function of (seed, number).

Three kinds, in turn: random mutations of a real index file (almost all refused by the
checksum), the same with the checksum made valid again (so the structural checks run), and
crafted files that are valid in layout (a real index decoded, changed as a whole, encoded
again) but hostile in what they hold: huge levels with empty lists, links out of range or
repeated, lists longer than ``m`` allows, overflowing or non-unit vectors, broken ids,
header fields that disagree with the body.
"""

from __future__ import annotations

import dataclasses
import itertools
import struct
import zlib
from collections.abc import Callable
from functools import cache, lru_cache

import numpy as np

import ruvector_core as rv
from ruvector_core import index_format
from ruvector_core.index_format import HEADER, GraphData
from ruvector_core.models import MAX_COMPONENT, MAX_LEVEL

from ..crafted import linkless_graph

KINDS = ("random", "checksum", "crafted")
#: Header fields by byte offset (see docs/format.md), patched with interesting values.
HEADER_FIELDS = {
    "metric": 10,
    "dimensions": 12,
    "m": 16,
    "ef_construction": 20,
    "ef_search": 24,
    "nodes": 28,
    "deleted": 32,
    "entry": 36,
    "max_level": 40,
    "id_bytes": 56,
    "links": 64,
}
INTERESTING_U32 = (0, 1, 2, 3, 7, 16, 63, 64, 255, 256, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 2, 2**32 - 1)
INTERESTING_F32 = (
    0.0,
    -0.0,
    1.0,
    -1.0,
    1e-45,
    3e38,
    -3e38,
    float(MAX_COMPONENT),
    float(MAX_COMPONENT) * 1.01,
    float("inf"),
    float("-inf"),
    float("nan"),
    2.0,
    1e19,
)


@lru_cache(maxsize=1)
def seeds() -> tuple[bytes, ...]:
    """Real index files of every metric, storage kind and a range of shapes (empty, one node,
    deletions, replaced ids, several layers), written by the numpy reference backend; the
    code kinds keep their floats in every other shape, so both version-2 layouts are seeds."""
    runtime = rv.Runtime(backend="numpy")
    rng = np.random.default_rng(20251201)
    out = []
    shapes = [(0, 4, 4), (1, 3, 2), (2, 8, 2), (12, 5, 3), (40, 8, 4), (90, 16, 4), (150, 6, 8), (60, 1, 2)]
    for metric, storage in itertools.product(("cosine", "euclidean", "dot"), ("float32", "int8", "binary")):
        for shape, (n, d, m) in enumerate(shapes):
            floats = "resident" if storage == "float32" or shape % 2 else "none"
            config = rv.HnswConfig(
                dimensions=d, m=m, ef_construction=16, metric=metric, seed=n + d, storage=storage, floats=floats
            )
            index = runtime.hnsw(config)
            rows = rng.standard_normal((n, d)).astype(np.float32)
            if n:
                index.insert_batch([f"s{i}" for i in range(n)], rows)
            if n > 4:  # tombstones and a replaced id
                index.delete("s1")
                index.insert("s2", rows[0])
            out.append(index.serialize())
    return tuple(out)


def make(seed: int, number: int) -> tuple[str, bytes]:
    """Input ``number`` of the run seeded ``seed``: (kind, bytes)."""
    rng = np.random.default_rng([seed, number])
    kind = KINDS[number % len(KINDS)]
    base = seeds()[int(rng.integers(len(seeds())))]
    if kind == "crafted":
        return kind, _crafted(rng, base)
    data = _mutate(rng, bytearray(base))
    return kind, _fix_checksum(data) if kind == "checksum" else bytes(data)


def _fix_checksum(data: bytearray | bytes) -> bytes:
    if len(data) < HEADER.size + 4:
        return bytes(data)
    body = bytes(data[:-4])
    return body + struct.pack("<I", zlib.crc32(body))


# -- byte mutations ---------------------------------------------------------------------


def _mutate(rng: np.random.Generator, data: bytearray) -> bytearray:
    for _ in range(int(rng.integers(1, 6))):
        op = int(rng.integers(8))
        size = len(data)
        at = int(rng.integers(size)) if size else 0
        if op == 0 and size:
            data[at] ^= 1 << int(rng.integers(8))
        elif op == 1 and size:
            data[at] = int(rng.choice([0, 1, 0x7F, 0x80, 0xFF]))
        elif op == 2 and size >= 4:
            at = min(at, size - 4)
            if rng.random() < 0.5:  # a header field, where most of the structure hangs
                at = int(rng.choice(list(HEADER_FIELDS.values())))
            data[at : at + 4] = struct.pack("<I", int(rng.choice(INTERESTING_U32)))
        elif op == 3 and size >= 4:
            at = min(at, size - 4)
            data[at : at + 4] = struct.pack("<f", float(rng.choice(INTERESTING_F32)))
        elif op == 4:
            del data[at : at + int(rng.integers(1, 64))]
        elif op == 5:
            data[at:at] = rng.bytes(int(rng.integers(1, 64)))
        elif op == 6 and size:
            start = int(rng.integers(size))
            data[at:at] = data[start : start + int(rng.integers(1, 256))]
        elif op == 7:
            del data[int(rng.integers(size + 1)) :]
    return data


# -- crafted shapes ---------------------------------------------------------------------


def _crafted(rng: np.random.Generator, base: bytes) -> bytes:
    graph = index_format.decode(base)
    changes = list(CRAFTS.values())
    try:
        with np.errstate(all="ignore"):
            for _ in range(int(rng.integers(1, 3))):
                changed = changes[int(rng.integers(len(changes)))](rng, graph)
                if isinstance(changed, bytes):
                    return changed
                graph = changed
            return index_format.encode(graph)
    except (ValueError, OverflowError, struct.error, KeyError, IndexError, UnicodeEncodeError):
        return base  # a change the writer cannot express: the seed itself, which must load


#: Longest list a crafted graph gets (a crafted m may be 2**20: such lists are not made whole).
MAX_CRAFTED_LIST = 600


def _lists(
    rng: np.random.Generator, levels: np.ndarray, n: int, cap: int, valid: bool
) -> tuple[np.ndarray, np.ndarray]:
    cap = min(cap, MAX_CRAFTED_LIST)
    sizes = rng.integers(0, cap + 1, int(levels.sum()) + len(levels)).astype(np.uint32)
    high = max(n, 1) if valid else 2**32
    links = rng.integers(0, high, int(sizes.sum()), dtype=np.uint64).astype(np.uint32)
    return sizes, links


def _levels(rng: np.random.Generator, g: GraphData) -> GraphData:
    """Nodes moved to high layers, their lists emptied or refilled (the expansion shape)."""
    n = len(g.ids)
    if n == 0:
        return g
    levels = (
        rng.integers(0, MAX_LEVEL + 1, n).astype(np.uint8) if rng.random() < 0.5 else np.full(n, MAX_LEVEL, np.uint8)
    )
    entry = int(np.argmax(levels))
    if rng.random() < 0.5:
        sizes = np.zeros(int(levels.sum()) + n, np.uint32)
        links = np.zeros(0, np.uint32)
    else:
        sizes, links = _lists(rng, levels, n, g.config.m, valid=True)
    return dataclasses.replace(g, levels=levels, list_sizes=sizes, links=links, entry_point=entry)


def _links(rng: np.random.Generator, g: GraphData) -> GraphData:
    """Links anywhere: self-links, repeats, past the last node, NONE; lists over capacity."""
    if not len(g.ids):
        return g
    cap = int(rng.choice([g.config.m, 2 * g.config.m, 2 * g.config.m + 1, 4 * g.config.m]))
    sizes, links = _lists(rng, g.levels, len(g.ids), cap, valid=rng.random() < 0.7)
    if links.size and rng.random() < 0.3:
        links[int(rng.integers(links.size))] = int(rng.choice([len(g.ids), 2**32 - 1]))
    return dataclasses.replace(g, list_sizes=sizes, links=links)


def _repeat_link(rng: np.random.Generator, g: GraphData) -> GraphData:
    lists = np.flatnonzero(g.list_sizes >= 2)
    if not lists.size:
        return g
    at = int(g.list_sizes[: int(rng.choice(lists))].sum())
    links = g.links.copy()
    links[at + 1] = links[at]
    return dataclasses.replace(g, links=links)


def _vectors(rng: np.random.Generator, g: GraphData) -> GraphData:
    """Components that overflow, are not finite, or break unit length."""
    if g.vectors is None or not g.vectors.size:
        return g
    vectors = g.vectors.copy()
    count = int(rng.integers(1, 4))
    rows = rng.integers(0, vectors.shape[0], count)
    cols = rng.integers(0, vectors.shape[1], count)
    vectors[rows, cols] = rng.choice(np.array(INTERESTING_F32, dtype=np.float32), count)
    if rng.random() < 0.3:
        vectors[int(rows[0])] *= np.float32(rng.choice([0.5, 2.0, 1e19, 1e-20]))
    return dataclasses.replace(g, vectors=vectors)


def _deleted(rng: np.random.Generator, g: GraphData) -> GraphData:
    n = len(g.ids)
    if not n:
        return g
    deleted = np.ones(n, bool) if rng.random() < 0.3 else rng.random(n) < 0.5
    return dataclasses.replace(g, deleted=deleted)


def _entry(rng: np.random.Generator, g: GraphData) -> GraphData:
    n = len(g.ids)
    return dataclasses.replace(g, entry_point=int(rng.integers(-1, n + 1)) if n else int(rng.integers(0, 3)))


def _ids(rng: np.random.Generator, g: GraphData) -> GraphData | bytes:
    n = len(g.ids)
    if not n:
        return g
    ids = list(g.ids)
    choice = int(rng.integers(4))
    if choice == 0 and n > 1:
        ids[int(rng.integers(1, n))] = ids[0]  # a repeated id (both live, or one deleted)
    elif choice == 1:
        ids[int(rng.integers(n))] = ""
    elif choice == 2:
        ids[int(rng.integers(n))] = "x" * int(rng.integers(1, 5_000))
    else:  # bytes that are not UTF-8, written past the writer
        blob = bytearray(index_format.encode(g))
        at = blob.find(g.ids[int(rng.integers(n))].encode(), HEADER.size + 4 * n * g.config.dimensions)
        if at >= 0:
            blob[at] = 0xFF
        return _fix_checksum(blob)
    return dataclasses.replace(g, ids=ids)


def _config(rng: np.random.Generator, g: GraphData) -> GraphData:
    """Parameters the graph was not built with (unvalidated, as a file may carry them)."""
    field = str(rng.choice(["m", "ef_construction", "ef_search", "metric", "seed"]))
    value: object
    if field == "metric":
        value = str(rng.choice(["cosine", "euclidean", "dot"]))
    elif field == "seed":
        value = int(rng.integers(0, 2**63))
    else:
        value = int(rng.choice([1, 2, 3, 4, 64, 256, 4096, 2**20]))
    return dataclasses.replace(g, config=g.config.model_copy(update={field: value}))


def _header(rng: np.random.Generator, g: GraphData) -> bytes:
    """A header field that disagrees with the body, checksum valid."""
    blob = bytearray(index_format.encode(g))
    at = int(rng.choice(list(HEADER_FIELDS.values())))
    blob[at : at + 4] = struct.pack("<I", int(rng.choice(INTERESTING_U32)))
    return _fix_checksum(blob)


def _linkless_many(rng: np.random.Generator, g: GraphData) -> bytes:
    """Many one-dimensional nodes on layer 63 with m = 256 and no links: the file that
    expands ~250x on load (100 nodes stay within the loaders' bound, 4,000 do not)."""
    return _linkless(int(rng.choice([100, 4_000])))


@cache
def _linkless(n: int) -> bytes:
    return index_format.encode(linkless_graph(n, 1, 256, MAX_LEVEL))


CRAFTS: dict[str, Callable[[np.random.Generator, GraphData], GraphData | bytes]] = {
    "levels": _levels,
    "links": _links,
    "repeat_link": _repeat_link,
    "vectors": _vectors,
    "deleted": _deleted,
    "entry": _entry,
    "ids": _ids,
    "config": _config,
    "header": _header,
    "linkless_many": _linkless_many,
}
