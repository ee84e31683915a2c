"""Reading and writing the one HNSW index format (docs/format.md).

Written for hostile input: every size is derived from the header with Python integers and
checked against the real length before anything is allocated, and every link is checked
before a graph could follow it. Any defect is a ``CorruptIndexError``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pydantic

from . import quantization
from .errors import CorruptIndexError
from .models import MAX_COMPONENT, MAX_LEVEL, METRIC_CODES, METRICS_BY_CODE, HnswConfig, QuantizedVectors, StorageKind

MAGIC = b"RUVHNSW\0"
VERSION = 1  # a float32 index, byte for byte as before storage kinds existed
VERSION_QUANTIZED = 2  # an int8 or binary index
#: byte 11 of a version 2 header
STORAGE_CODES: dict[StorageKind, int] = {"int8": 1, "binary": 2}
STORAGE_BY_CODE: dict[int, StorageKind] = {code: kind for kind, code in STORAGE_CODES.items()}
#: bit 0 of the u32 at offset 44 of a version 2 header: the float32 vectors are stored too
FLAG_FLOATS = 1
HEADER = struct.Struct("<8sHBBIIIIIIIIIQQQ")
CHECKSUM_BYTES = 4
NONE = 0xFFFFFFFF
T = TypeVar("T")
# What a load may commit to in memory (docs/format.md, check 4): the graph's fixed-capacity
# layout may exceed the file by this factor plus this slack, and no more. An honest index
# stays below ~115x (one dimension, m = 256, a link or two per node); a crafted one whose
# nodes all sit on high layers with empty lists reaches ~257x.
LOAD_EXPANSION = 128
LOAD_SLACK_BYTES = 64 << 20
# A stored cosine row has unit length within this (or is all zeros, as a zero vector is kept).
UNIT_TOLERANCE = 1e-3
# Rows re-quantized at a time when a load checks codes against floats (bounds the float64
# temporaries to a few MB whatever the index size).
_CHECK_ROWS = 2048


@dataclass(frozen=True)
class GraphData:
    """A graph laid out as the format stores it (see docs/format.md for each field).

    ``vectors`` is None exactly when ``config.floats == "none"``; ``codes`` holds the int8 or
    binary codes exactly when ``config.storage`` is one of those (its offsets are zeros for
    binary, which the format does not store)."""

    config: HnswConfig
    vectors: np.ndarray | None  # (n, d) float32
    levels: np.ndarray  # (n,) uint8
    deleted: np.ndarray  # (n,) bool
    ids: list[str]
    list_sizes: np.ndarray  # (sum(levels + 1),) uint32, node-major then layer
    links: np.ndarray  # (sum(list_sizes),) uint32
    entry_point: int  # -1 when empty
    codes: QuantizedVectors | None = None

    def __post_init__(self) -> None:
        config = self.config
        if (self.vectors is None) != (config.floats == "none"):
            need = "needs" if self.vectors is None else "has no"
            raise ValueError(f"a graph with floats={config.floats!r} {need} vectors")
        if (self.codes is None) == config.quantized:
            raise ValueError(f"a {config.storage} graph {'needs' if self.codes is None else 'has no'} codes")
        if self.codes is not None and (self.codes.kind != config.storage or self.codes.count != len(self.ids)):
            got = f"{self.codes.count} {self.codes.kind} codes"
            raise ValueError(f"a {config.storage} graph of {len(self.ids)} nodes got {got}")

    @property
    def max_level(self) -> int:
        return int(self.levels[self.entry_point]) if self.entry_point >= 0 else -1


def encode(graph: GraphData) -> bytes:
    config = graph.config
    n = len(graph.ids)
    id_bytes = [i.encode("utf-8") for i in graph.ids]
    offsets = np.zeros(n + 1, dtype="<u4")
    np.cumsum([len(b) for b in id_bytes], out=offsets[1:])
    id_text = b"".join(id_bytes)
    empty = graph.entry_point < 0
    header = HEADER.pack(
        MAGIC,
        VERSION_QUANTIZED if config.quantized else VERSION,
        METRIC_CODES[config.metric],
        STORAGE_CODES[config.storage] if config.quantized else 0,
        config.dimensions,
        config.m,
        config.ef_construction,
        config.ef_search,
        n,
        int(np.count_nonzero(graph.deleted)),
        NONE if empty else graph.entry_point,
        NONE if empty else graph.max_level,
        FLAG_FLOATS if config.quantized and config.floats == "resident" else 0,
        config.seed,
        len(id_text),
        int(graph.links.size),
    )
    body = b"".join(
        (
            header,
            b"" if graph.vectors is None else np.ascontiguousarray(graph.vectors, dtype="<f4").tobytes(),
            _code_bytes(graph.codes),
            np.ascontiguousarray(graph.levels, dtype="u1").tobytes(),
            np.ascontiguousarray(graph.deleted, dtype="u1").tobytes(),
            offsets.tobytes(),
            id_text,
            np.ascontiguousarray(graph.list_sizes, dtype="<u4").tobytes(),
            np.ascontiguousarray(graph.links, dtype="<u4").tobytes(),
        )
    )
    return body + struct.pack("<I", zlib.crc32(body))


def _code_bytes(codes: QuantizedVectors | None) -> bytes:
    if codes is None:
        return b""
    parts = [codes.codes.tobytes(), np.ascontiguousarray(codes.scales, dtype="<f4").tobytes()]
    if codes.kind == "int8":
        parts.append(np.ascontiguousarray(codes.offsets, dtype="<f4").tobytes())
    return b"".join(parts)


def code_row_bytes(config: HnswConfig) -> int:
    """Bytes of one node's codes and their scale (and offset): 0 for a float32 index."""
    if config.storage == "int8":
        return config.dimensions + 8
    if config.storage == "binary":
        return (config.dimensions + 7) // 8 + 4
    return 0


def read_config(data: bytes) -> HnswConfig:
    """Parse and check the header only: enough to choose a backend for the load."""
    return _parse_header(data).config


def decode(data: bytes) -> GraphData:
    """Parse and fully validate an index; see docs/format.md for the rules."""
    header = _parse_header(data)
    (stored_crc,) = struct.unpack_from("<I", data, len(data) - CHECKSUM_BYTES)
    if zlib.crc32(memoryview(data)[: len(data) - CHECKSUM_BYTES]) != stored_crc:
        raise CorruptIndexError("index checksum mismatch: the bytes are corrupt")
    reader = _Reader(data, HEADER.size, len(data) - CHECKSUM_BYTES)
    config = header.config
    n, d = header.node_count, config.dimensions
    floats = config.floats == "resident"
    reader.require((4 * n * d if floats else 0) + n * code_row_bytes(config) + 2 * n + 4 * (n + 1) + header.id_bytes)
    vectors = reader.array("<f4", n * d).reshape(n, d) if floats else None
    codes = _read_codes(reader, config, n)
    levels = reader.array("u1", n)
    flags = reader.array("u1", n)
    offsets = reader.array("<u4", n + 1)
    id_text = reader.raw(header.id_bytes)
    list_count = int(levels.sum(dtype=np.int64)) + n
    check_load_size(header.config, n, list_count - n, len(data))
    reader.require(4 * list_count + 4 * header.link_count)
    list_sizes = reader.array("<u4", list_count)
    links = reader.array("<u4", header.link_count)
    if reader.remaining:
        raise CorruptIndexError(f"index has {reader.remaining} unexpected trailing bytes")

    deleted = _check_flags(flags, header.deleted_count)
    entry_point = _check_levels(levels, header)
    ids = _check_ids(offsets, id_text, deleted)
    _check_links(levels, list_sizes, links, header.config)
    if vectors is not None:
        _check_vectors(vectors, config)
    quantized = None if codes is None else _check_codes(codes, vectors, config)
    return GraphData(
        config=config,
        vectors=None if vectors is None else vectors.astype(np.float32),
        levels=levels.copy(),
        deleted=deleted,
        ids=ids,
        list_sizes=list_sizes.astype(np.uint32),
        links=links.astype(np.uint32),
        entry_point=entry_point,
        codes=quantized,
    )


def load_bytes(config: HnswConfig, node_count: int, upper_lists: int) -> int:
    """The memory a load commits to: the vectors (float32 when kept, codes with their scales
    and offsets when quantized) plus every list at its full capacity."""
    floats = 4 * config.dimensions if config.floats == "resident" else 0
    per_node = floats + code_row_bytes(config) + 4 * (config.max_links_layer0 + 1)
    return node_count * per_node + 4 * upper_lists * (config.m + 1)


def check_load_size(config: HnswConfig, node_count: int, upper_lists: int, file_bytes: int) -> None:
    """Refuse, before allocating, a file that would expand beyond what any honest index does."""
    need = load_bytes(config, node_count, upper_lists)
    if need > LOAD_SLACK_BYTES + LOAD_EXPANSION * file_bytes:
        raise CorruptIndexError(
            f"index of {file_bytes} bytes would take {need} bytes of memory to load,"
            f" more than {LOAD_EXPANSION} times its size: crafted or corrupt"
        )


def _check_vectors(vectors: np.ndarray, config: HnswConfig) -> None:
    with np.errstate(invalid="ignore"):
        bounded = bool((np.abs(vectors) <= MAX_COMPONENT).all()) if vectors.size else True
    if not bounded:
        raise CorruptIndexError(f"index holds vector components that are not finite or beyond {MAX_COMPONENT:.3g}")
    if config.metric != "cosine" or not vectors.size:
        return
    squares = np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64)
    if not bool(((squares == 0.0) | (np.abs(squares - 1.0) <= UNIT_TOLERANCE)).all()):
        raise CorruptIndexError("index holds a cosine row that is not of unit length")


@dataclass(frozen=True)
class _RawCodes:
    codes: np.ndarray  # (n, d) int8 or (n, ceil(d / 8)) uint8, still a view of the file
    scales: np.ndarray  # (n,) little-endian float32
    offsets: np.ndarray | None  # (n,) little-endian float32 for int8


def _read_codes(reader: _Reader, config: HnswConfig, n: int) -> _RawCodes | None:
    d = config.dimensions
    if config.storage == "int8":
        codes = reader.array("i1", n * d).reshape(n, d)
        return _RawCodes(codes, reader.array("<f4", n), reader.array("<f4", n))
    if config.storage == "binary":
        width = (d + 7) // 8
        codes = reader.array("u1", n * width).reshape(n, width)
        return _RawCodes(codes, reader.array("<f4", n), None)
    return None


def _check_codes(raw: _RawCodes, vectors: np.ndarray | None, config: HnswConfig) -> QuantizedVectors:
    """Checks 11 and 12 of docs/format.md: scales and offsets that decode to bounded components,
    zero padding bits, and, with the floats stored, codes that are the floats' own."""
    with np.errstate(invalid="ignore"):  # a signalling NaN from the file warns as it widens
        scales = raw.scales.astype(np.float64)
        lows = None if raw.offsets is None else np.abs(raw.offsets.astype(np.float64))
    if not bool(np.isfinite(scales).all()) or bool((scales < 0).any()):
        raise CorruptIndexError("index holds a code scale that is negative or not finite")
    if raw.offsets is None:
        if bool((scales > MAX_COMPONENT).any()):
            raise CorruptIndexError(f"index holds a binary scale beyond {MAX_COMPONENT:.3g}")
        mask = quantization.padding_mask(config.dimensions)
        if mask and raw.codes.size and bool((raw.codes[:, -1] & mask).any()):
            raise CorruptIndexError("index holds binary codes with bits set past the last dimension")
        offsets = np.zeros(len(scales), dtype=np.float32)
    else:
        assert lows is not None  # int8 codes come with their offsets
        with np.errstate(invalid="ignore"):
            bounded = (lows <= MAX_COMPONENT) & (lows + quantization.INT8_LEVELS * scales <= MAX_COMPONENT)
        if not bool(bounded.all()):
            raise CorruptIndexError(f"index holds int8 offsets or scales that decode beyond {MAX_COMPONENT:.3g}")
        offsets = raw.offsets.astype(np.float32)
    stored = QuantizedVectors(
        kind="int8" if raw.offsets is not None else "binary",
        dimensions=config.dimensions,
        codes=raw.codes.copy(),
        scales=raw.scales.astype(np.float32),
        offsets=offsets,
    )
    if vectors is not None:
        _check_codes_match(stored, vectors)
    return stored


def _check_codes_match(stored: QuantizedVectors, vectors: np.ndarray) -> None:
    for start in range(0, stored.count, _CHECK_ROWS):
        rows = slice(start, start + _CHECK_ROWS)
        fresh = quantization.quantize(vectors[rows].astype(np.float32), stored.kind)
        same = np.array_equal(fresh.codes, stored.codes[rows]) and np.array_equal(fresh.scales, stored.scales[rows])
        if stored.kind == "int8":
            same = same and np.array_equal(fresh.offsets, stored.offsets[rows])
        if not same:
            raise CorruptIndexError("index holds codes that are not the quantization of its float vectors")


def load(data: bytes, build: Callable[[GraphData], T]) -> T:
    """Decode ``data`` and ``build`` a backend's graph from it; memory the process cannot
    have is a ``CorruptIndexError`` too, as in the compiled loaders, so no load escapes
    with an untyped error."""
    try:
        return build(decode(data))
    except MemoryError:
        raise CorruptIndexError(f"index of {len(data)} bytes needs more memory to load than can be allocated") from None


@dataclass(frozen=True)
class _Header:
    config: HnswConfig
    node_count: int
    deleted_count: int
    entry_point: int
    max_level: int
    id_bytes: int
    link_count: int


def _parse_header(data: bytes) -> _Header:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CorruptIndexError(f"index data must be bytes, not {type(data).__name__}")
    if len(data) < HEADER.size + CHECKSUM_BYTES:
        raise CorruptIndexError(
            f"index data is {len(data)} bytes, shorter than the {HEADER.size + CHECKSUM_BYTES}"
            " bytes of an empty index: truncated or not an index"
        )
    (
        magic,
        version,
        metric,
        reserved8,
        d,
        m,
        efc,
        efs,
        n,
        n_deleted,
        entry,
        max_level,
        reserved32,
        seed,
        id_bytes,
        link_count,
    ) = HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise CorruptIndexError("not a ruvector HNSW index (bad magic bytes)")
    if version not in (VERSION, VERSION_QUANTIZED):
        raise CorruptIndexError(
            f"unsupported index format version {version} (this reads {VERSION} and {VERSION_QUANTIZED})"
        )
    if metric not in METRICS_BY_CODE:
        raise CorruptIndexError("index header has an unknown metric")
    if version == VERSION and (reserved8 or reserved32):
        raise CorruptIndexError("index header has non-zero reserved fields")
    if version == VERSION_QUANTIZED and (reserved8 not in STORAGE_BY_CODE or reserved32 & ~FLAG_FLOATS):
        raise CorruptIndexError("index header has an unknown storage kind or unknown flags")
    storage: StorageKind = STORAGE_BY_CODE[reserved8] if version == VERSION_QUANTIZED else "float32"
    floats = "resident" if version == VERSION or reserved32 & FLAG_FLOATS else "none"
    try:  # the header's parameters obey exactly the bounds of HnswConfig
        config = HnswConfig(
            dimensions=d,
            m=m,
            ef_construction=efc,
            ef_search=efs,
            metric=METRICS_BY_CODE[metric],
            seed=seed,
            storage=storage,
            floats=floats,
        )
    except pydantic.ValidationError as exc:
        fields = ", ".join(str(error["loc"][0]) for error in exc.errors())
        raise CorruptIndexError(f"index header parameters are out of range ({fields})") from None
    if n_deleted > n:
        raise CorruptIndexError("index header counts more deleted nodes than nodes")
    if (n == 0) != (entry == NONE) or (n == 0) != (max_level == NONE):
        raise CorruptIndexError("index header entry point disagrees with its node count")
    return _Header(
        config=config,
        node_count=n,
        deleted_count=n_deleted,
        entry_point=-1 if n == 0 else entry,
        max_level=-1 if n == 0 else max_level,
        id_bytes=id_bytes,
        link_count=link_count,
    )


class _Reader:
    """Sequential reads that refuse to run past the end of the payload."""

    def __init__(self, data: bytes, start: int, end: int) -> None:
        self._data = data
        self._pos = start
        self._end = end

    @property
    def remaining(self) -> int:
        return self._end - self._pos

    def require(self, size: int) -> None:
        if size > self.remaining:
            raise CorruptIndexError(f"index data is truncated: {size} more bytes needed, {self.remaining} present")

    def raw(self, size: int) -> bytes:
        self.require(size)
        chunk = bytes(self._data[self._pos : self._pos + size])
        self._pos += size
        return chunk

    def array(self, dtype: str, count: int) -> np.ndarray:
        size = np.dtype(dtype).itemsize * count
        self.require(size)
        out = np.frombuffer(self._data, dtype=dtype, count=count, offset=self._pos)
        self._pos += size
        return out


def _check_flags(flags: np.ndarray, deleted_count: int) -> np.ndarray:
    if flags.size and flags.max() > 1:
        raise CorruptIndexError("index node flags must be 0 or 1")
    deleted = flags.astype(bool)
    if int(deleted.sum()) != deleted_count:
        raise CorruptIndexError("index deleted count disagrees with its node flags")
    return deleted


def _check_levels(levels: np.ndarray, header: _Header) -> int:
    if header.node_count == 0:
        return -1
    top = int(levels.max())
    if top > MAX_LEVEL or top != header.max_level:
        raise CorruptIndexError("index max level disagrees with its nodes' levels")
    if header.entry_point >= header.node_count or levels[header.entry_point] != top:
        raise CorruptIndexError("index entry point is not a node on the top layer")
    return header.entry_point


def _check_ids(offsets: np.ndarray, id_text: bytes, deleted: np.ndarray) -> list[str]:
    if offsets[0] != 0 or offsets[-1] != len(id_text) or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise CorruptIndexError("index id offsets are not a valid partition of the id text")
    if np.any(offsets[1:] == offsets[:-1]):  # no insert makes one; ids elsewhere must be non-empty
        raise CorruptIndexError("an index id is empty")
    try:
        text = id_text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptIndexError(f"index ids are not valid UTF-8: {exc}") from None
    if len(text) == len(id_text):  # ASCII: byte offsets are character offsets
        ids = [text[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)]
    else:
        try:
            ids = [
                id_text[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)
            ]
        except UnicodeDecodeError as exc:
            raise CorruptIndexError(f"an index id is not valid UTF-8: {exc}") from None
    live = [i for i, gone in zip(ids, deleted.tolist(), strict=True) if not gone]
    if len(set(live)) != len(live):
        raise CorruptIndexError("index holds the same live id twice")
    return ids


def _check_links(levels: np.ndarray, sizes: np.ndarray, links: np.ndarray, config: HnswConfig) -> None:
    n = levels.size
    owner = np.repeat(np.arange(n, dtype=np.int64), levels.astype(np.int64) + 1)
    starts = np.cumsum(levels.astype(np.int64) + 1) - (levels.astype(np.int64) + 1)
    layer = np.arange(owner.size, dtype=np.int64) - np.repeat(starts, levels.astype(np.int64) + 1)
    limit = np.where(layer == 0, config.max_links_layer0, config.m)
    if np.any(sizes > limit):
        raise CorruptIndexError("an index node has more links than m allows")
    if int(sizes.sum(dtype=np.int64)) != links.size:
        raise CorruptIndexError("index link count disagrees with its list sizes")
    if not links.size:
        return
    if int(links.max()) >= n:
        raise CorruptIndexError("an index link points past the last node")
    source = np.repeat(owner, sizes.astype(np.int64))
    source_layer = np.repeat(layer, sizes.astype(np.int64))
    if np.any(links == source):
        raise CorruptIndexError("an index node links to itself")
    if np.any(levels[links] < source_layer):
        raise CorruptIndexError("an index link points to a node absent from that layer")
    source_list = np.repeat(np.arange(sizes.size, dtype=np.int64), sizes.astype(np.int64))
    order = np.lexsort((links, source_list))  # by list, then by link: a repeat becomes a neighbour
    if np.any((np.diff(source_list[order]) == 0) & (np.diff(links[order].astype(np.int64)) == 0)):
        raise CorruptIndexError("an index neighbour list holds the same link twice")
