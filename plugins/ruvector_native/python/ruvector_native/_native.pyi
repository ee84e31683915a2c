"""The compiled extension (rust/src/lib.rs): ruvector-kernels on plain values.

Ints, floats, str and C-contiguous numpy arrays in; tuples, lists, bytes and numpy arrays
out. Refused input raises ``InvalidInput``, bad index bytes ``CorruptIndex``;
``ruvector_native._adapters`` maps both onto the core's errors.
"""

from typing import Self

import numpy as np
from numpy.typing import NDArray
from typing_extensions import disjoint_base

__all__ = [
    "InvalidInput",
    "CorruptIndex",
    "BadModel",
    "Hnsw",
    "Kernels",
    "Encoder",
    "set_threads",
    "get_threads",
    "isa",
]

class InvalidInput(ValueError):
    """An argument the extension cannot use: a shape, length, metric or parameter out of range."""

class CorruptIndex(ValueError):
    """Index bytes that fail the checks of docs/format.md."""

class BadModel(ValueError):
    """An encoder weight blob that fails its checks (header, length, CRC-32, finite values)."""

def get_threads() -> int:
    """Number of threads used for batch work."""

def set_threads(n: int) -> None:
    """Sets the number of threads used for batch inserts, batch searches and large batch
    distances (1 runs everything on the calling thread)."""

def isa() -> str:
    """The SIMD instruction set the kernels use on this CPU."""

@disjoint_base
class Hnsw:
    def __new__(
        cls,
        dimensions: int,
        m: int,
        ef_construction: int,
        ef_search: int,
        metric_code: int,
        seed: int,
        data: bytes | None = None,
        storage: str = "float32",
        floats: str = "resident",
    ) -> Self:
        """An empty index with these parameters or, given ``data``, the index those bytes
        encode, which must declare the same parameters. ``metric_code`` is the metric's
        byte in the index format (``ruvector_core.models.METRIC_CODES``); ``storage`` and
        ``floats`` are ``HnswConfig``'s fields of those names."""

    def insert_batch(self, ids: list[str], vectors: NDArray[np.float32]) -> None: ...
    def allow_mask(self, ids: list[str]) -> NDArray[np.bool_]:
        """A filter for ``search``: one bool per node (deleted ones included), True at the
        live node of each id in ``ids``; unknown ids are ignored."""

    def search(
        self, query: NDArray[np.float32], k: int, ef: int, allow: NDArray[np.bool_] | None = None
    ) -> list[tuple[str, float]]:
        """At most ``k`` live (id, similarity) pairs, best first; with ``allow`` (an
        ``allow_mask``), exactly the ``min(k, allowed live)`` nearest allowed ones."""

    def search_batch(
        self, queries: NDArray[np.float32], k: int, ef: int, allow: NDArray[np.bool_] | None = None
    ) -> tuple[NDArray[np.object_], NDArray[np.float32]]:
        """(ids, scores) of shape (q, k): an object array padded with None and float32 scores
        padded with -inf; each row as ``search`` with the same ``allow`` answers."""

    def delete(self, id: str) -> bool: ...
    def __contains__(self, id: object, /) -> bool: ...
    def __len__(self) -> int: ...
    def ids(self) -> list[str]:
        """Live ids, in insertion order of their nodes."""

    def graph_stats(self) -> tuple[int, int, int, list[int], int]:
        """(count, deleted, max_level, nodes_per_level, memory_bytes)."""

    def serialize(self) -> bytes:
        """The index in the format of docs/format.md."""

@disjoint_base
class Kernels:
    def __new__(cls) -> Self: ...
    def distance(self, a: NDArray[np.float32], b: NDArray[np.float32], metric: str) -> float:
        """Lower is closer: ``1 - cos``, L2, or ``-a.b``."""

    def batch_distance(
        self, query: NDArray[np.float32], matrix: NDArray[np.float32], metric: str
    ) -> NDArray[np.float32]: ...
    def normalize(self, matrix: NDArray[np.float32]) -> NDArray[np.float32]: ...
    def quantize_int8(
        self, matrix: NDArray[np.float32]
    ) -> tuple[NDArray[np.int8], NDArray[np.float32], NDArray[np.float32]]:
        """(codes int8 (n, d), scales float32 (n,), offsets float32 (n,))."""

    def dequantize_int8(
        self, codes: NDArray[np.int8], scales: NDArray[np.float32], offsets: NDArray[np.float32]
    ) -> NDArray[np.float32]: ...
    def quantize_binary(self, matrix: NDArray[np.float32]) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
        """(codes uint8 (n, ceil(d / 8)), scales float32 (n,))."""

    def dequantize_binary(
        self, codes: NDArray[np.uint8], dimensions: int, scales: NDArray[np.float32]
    ) -> NDArray[np.float32]: ...

@disjoint_base
class Encoder:
    """A loaded encoder; safe to call from several threads at once (it is never changed)."""

    def __new__(cls, blob: bytes) -> Self:
        """The encoder a blob (from `ruvector_textmodel.weights.to_blob`) holds."""
    @property
    def dimensions(self) -> int:
        """Length of the embeddings."""
    @property
    def positions(self) -> int:
        """The most tokens one text may have (markers included)."""
    @property
    def isa(self) -> str:
        """The instruction set of the matrix products."""
    def embed(self, ids: NDArray[np.uint32], lengths: NDArray[np.uint32]) -> NDArray[np.float32]:
        """Embeddings (texts x dimensions) of texts whose token ids are `ids`, one text after
        the other, `lengths[i]` tokens for text `i`."""
