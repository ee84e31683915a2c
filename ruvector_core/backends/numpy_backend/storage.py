"""What the reference HNSW stores per node and how it measures distances to it.

One class per ``HnswConfig.storage`` (docs/format.md, "Version 2"): float32 rows; int8 codes
searched with a float query against the codes (the asymmetric distance); binary sign bits
searched by Hamming distance. The graph algorithm in ``hnsw`` asks a store for three kinds
of distance, lower is closer and squared for euclidean:

* ``distances``: what the graph is built and walked on (the codes, when quantized);
* ``pairwise``: between stored nodes, for the neighbour heuristic (decoded int8 rows, or the
  Hamming distance between two codes);
* ``final``: what the returned scores come from: the float32 rows when they are resident,
  else the codes' approximation (int8 asymmetric, or binary ``dot(q, x̂)`` with decoded signs).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from ... import index_format, quantization
from ...models import HnswConfig, Metric, QuantizedVectors


@dataclass(frozen=True)
class Query:
    """A prepared query (or inserted vector): what every distance of every store needs."""

    vector: np.ndarray  # float32, L2-normalised for cosine
    total: float  # sum of the components: the int8 distance's offset term
    square: float  # squared L2 norm: the euclidean distances' first term
    bits: np.ndarray  # packed sign bits (x > 0), the binary traversal's query


def prepare(vector: np.ndarray) -> Query:
    with np.errstate(invalid="ignore", over="ignore"):  # NaN must reach the scores
        return Query(
            vector=vector,
            total=float(vector.sum(dtype=np.float64)),
            square=float(vector @ vector),
            bits=np.packbits(vector > 0),
        )


def make_store(config: HnswConfig) -> Store:
    if config.storage == "int8":
        return Int8Store(config)
    if config.storage == "binary":
        return BinaryStore(config)
    return FloatStore(config)


def float_distances(rows: np.ndarray, query: np.ndarray, metric: Metric) -> np.ndarray:
    """Exact distances from ``query`` to float32 ``rows`` (squared for euclidean)."""
    distances: np.ndarray
    if metric == "cosine":
        distances = 1.0 - rows @ query
    elif metric == "dot":
        distances = -(rows @ query)
    else:
        diff = rows - query
        distances = np.einsum("ij,ij->i", diff, diff)
    return distances


def _from_dots(dots: np.ndarray, query: Query, squares: np.ndarray, metric: Metric) -> np.ndarray:
    """Distances from dot products with rows of squared norms ``squares``."""
    if metric == "cosine":
        return 1.0 - dots
    if metric == "dot":
        return -dots
    distances: np.ndarray = np.maximum(query.square - 2.0 * dots + squares, 0.0)
    return distances


def _from_gram(gram: np.ndarray, squares: np.ndarray, metric: Metric) -> np.ndarray:
    if metric == "cosine":
        return 1.0 - gram
    if metric == "dot":
        return -gram
    distances: np.ndarray = np.maximum(squares[:, None] + squares[None, :] - 2.0 * gram, 0.0)
    return distances


def _grown(array: np.ndarray, capacity: int) -> np.ndarray:
    out = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
    out[: len(array)] = array
    return out


class Store(ABC):
    """The per-node data of one storage kind; ``floats`` holds the float32 rows when they
    are resident (always for float32)."""

    def __init__(self, config: HnswConfig) -> None:
        self.config = config
        self.metric: Metric = config.metric
        keep = config.floats == "resident"
        self.floats: np.ndarray | None = np.zeros((16, config.dimensions), dtype=np.float32) if keep else None

    def grow(self, capacity: int) -> None:
        if self.floats is not None and capacity > len(self.floats):
            self.floats = _grown(self.floats, max(capacity, 2 * len(self.floats)))

    def put(self, node: int, row: np.ndarray) -> None:
        if self.floats is not None:
            self.floats[node] = row

    @abstractmethod
    def node_query(self, node: int) -> Query: ...

    @abstractmethod
    def distances(self, query: Query, nodes: list[int]) -> np.ndarray: ...

    @abstractmethod
    def pairwise(self, nodes: list[int]) -> np.ndarray: ...

    @abstractmethod
    def final(self, query: Query, nodes: list[int]) -> np.ndarray: ...

    def nbytes(self, n: int) -> int:
        return 0 if self.floats is None else 4 * n * self.config.dimensions

    def codes(self, n: int) -> QuantizedVectors | None:
        return None

    def load(self, graph: index_format.GraphData) -> None:
        n = len(graph.ids)
        self.grow(n)
        if self.floats is not None and graph.vectors is not None:
            self.floats[:n] = graph.vectors

    def graph_vectors(self, n: int) -> np.ndarray | None:
        return None if self.floats is None else self.floats[:n]


class FloatStore(Store):
    """float32 rows, searched and scored exactly."""

    def __init__(self, config: HnswConfig) -> None:
        super().__init__(config)
        self.squares = np.zeros(16, dtype=np.float32)

    @property
    def rows(self) -> np.ndarray:
        assert self.floats is not None  # a float32 index always keeps its floats
        return self.floats

    def grow(self, capacity: int) -> None:
        super().grow(capacity)
        if capacity > len(self.squares):
            self.squares = _grown(self.squares, len(self.rows))

    def nbytes(self, n: int) -> int:
        return super().nbytes(n) + 4 * n  # the rows and their squared norms

    def put(self, node: int, row: np.ndarray) -> None:
        super().put(node, row)
        self.squares[node] = float(row @ row)

    def node_query(self, node: int) -> Query:
        return prepare(self.rows[node])

    def distances(self, query: Query, nodes: list[int]) -> np.ndarray:
        return float_distances(self.rows[nodes], query.vector, self.metric)

    def pairwise(self, nodes: list[int]) -> np.ndarray:
        rows = self.rows[nodes]
        return _from_gram(rows @ rows.T, self.squares[nodes], self.metric)

    def final(self, query: Query, nodes: list[int]) -> np.ndarray:
        return self.distances(query, nodes)

    def load(self, graph: index_format.GraphData) -> None:
        super().load(graph)
        n = len(graph.ids)
        self.squares[:n] = np.einsum("ij,ij->i", self.rows[:n], self.rows[:n])


class Int8Store(Store):
    """One int8 code per component plus a scale and offset per row (and ``|x̂|²``, kept in
    memory for the euclidean distance)."""

    def __init__(self, config: HnswConfig) -> None:
        super().__init__(config)
        self.codes_ = np.zeros((16, config.dimensions), dtype=np.int8)
        self.scales = np.zeros(16, dtype=np.float32)
        self.lows = np.zeros(16, dtype=np.float32)
        self.squares = np.zeros(16, dtype=np.float32)

    def grow(self, capacity: int) -> None:
        super().grow(capacity)
        if capacity > len(self.codes_):
            size = max(capacity, 2 * len(self.codes_))
            self.codes_, self.scales = _grown(self.codes_, size), _grown(self.scales, size)
            self.lows, self.squares = _grown(self.lows, size), _grown(self.squares, size)

    def put(self, node: int, row: np.ndarray) -> None:
        super().put(node, row)
        self._set(node, quantization.quantize(row[None, :], "int8"))

    def _set(self, start: int, codes: QuantizedVectors) -> None:
        end = start + codes.count
        self.codes_[start:end] = codes.codes
        self.scales[start:end] = codes.scales
        self.lows[start:end] = codes.offsets
        decoded = quantization.dequantize(codes).astype(np.float64)
        self.squares[start:end] = np.einsum("ij,ij->i", decoded, decoded)

    def _decoded(self, nodes: list[int]) -> np.ndarray:
        levels = self.codes_[nodes].astype(np.float32) + float(quantization.INT8_SHIFT)
        decoded: np.ndarray = levels * self.scales[nodes, None] + self.lows[nodes, None]
        return decoded

    def node_query(self, node: int) -> Query:
        return prepare(self._decoded([node])[0])

    def distances(self, query: Query, nodes: list[int]) -> np.ndarray:
        scales = self.scales[nodes]
        with np.errstate(invalid="ignore", over="ignore"):
            weighted = self.codes_[nodes].astype(np.float32) @ query.vector
            dots = scales * weighted + (quantization.INT8_SHIFT * scales + self.lows[nodes]) * np.float32(query.total)
        return _from_dots(dots, query, self.squares[nodes], self.metric)

    def pairwise(self, nodes: list[int]) -> np.ndarray:
        rows = self._decoded(nodes)
        return _from_gram(rows @ rows.T, self.squares[nodes], self.metric)

    def final(self, query: Query, nodes: list[int]) -> np.ndarray:
        if self.floats is not None:
            return float_distances(self.floats[nodes], query.vector, self.metric)
        return self.distances(query, nodes)

    def nbytes(self, n: int) -> int:
        return super().nbytes(n) + n * (self.config.dimensions + 12)

    def codes(self, n: int) -> QuantizedVectors:
        return QuantizedVectors(
            kind="int8",
            dimensions=self.config.dimensions,
            codes=self.codes_[:n],
            scales=self.scales[:n],
            offsets=self.lows[:n],
        )

    def load(self, graph: index_format.GraphData) -> None:
        super().load(graph)
        assert graph.codes is not None  # an int8 graph carries its codes
        self.grow(graph.codes.count)
        self._set(0, graph.codes)


class BinaryStore(Store):
    """One sign bit per component plus the row's mean ``|x|`` as its scale."""

    def __init__(self, config: HnswConfig) -> None:
        super().__init__(config)
        self.width = (config.dimensions + 7) // 8
        self.codes_ = np.zeros((16, self.width), dtype=np.uint8)
        self.scales = np.zeros(16, dtype=np.float32)

    def grow(self, capacity: int) -> None:
        super().grow(capacity)
        if capacity > len(self.codes_):
            size = max(capacity, 2 * len(self.codes_))
            self.codes_, self.scales = _grown(self.codes_, size), _grown(self.scales, size)

    def put(self, node: int, row: np.ndarray) -> None:
        super().put(node, row)
        codes = quantization.quantize(row[None, :], "binary")
        self.codes_[node] = codes.codes[0]
        self.scales[node] = codes.scales[0]

    def node_query(self, node: int) -> Query:
        return Query(vector=np.zeros(0, dtype=np.float32), total=0.0, square=0.0, bits=self.codes_[node])

    def distances(self, query: Query, nodes: list[int]) -> np.ndarray:
        hamming: np.ndarray = np.bitwise_count(self.codes_[nodes] ^ query.bits).sum(axis=1, dtype=np.int64)
        return hamming

    def pairwise(self, nodes: list[int]) -> np.ndarray:
        codes = self.codes_[nodes]
        hamming: np.ndarray = np.bitwise_count(codes[:, None, :] ^ codes[None, :, :]).sum(axis=2, dtype=np.int64)
        return hamming

    def final(self, query: Query, nodes: list[int]) -> np.ndarray:
        if self.floats is not None:
            return float_distances(self.floats[nodes], query.vector, self.metric)
        d = self.config.dimensions
        signs = np.unpackbits(self.codes_[nodes], axis=1, count=d).astype(np.float32) * 2.0 - 1.0
        scales = self.scales[nodes]
        with np.errstate(invalid="ignore", over="ignore"):
            dots = scales * (signs @ query.vector)
        return _from_dots(dots, query, d * scales * scales, self.metric)

    def nbytes(self, n: int) -> int:
        return super().nbytes(n) + n * (self.width + 4)

    def codes(self, n: int) -> QuantizedVectors:
        return QuantizedVectors(
            kind="binary",
            dimensions=self.config.dimensions,
            codes=self.codes_[:n],
            scales=self.scales[:n],
            offsets=np.zeros(n, dtype=np.float32),
        )

    def load(self, graph: index_format.GraphData) -> None:
        super().load(graph)
        assert graph.codes is not None  # a binary graph carries its codes
        n = graph.codes.count
        self.grow(n)
        self.codes_[:n] = graph.codes.codes
        self.scales[:n] = graph.codes.scales
