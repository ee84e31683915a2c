"""What the objects returned by backends must look like.

The core's facades (``VectorOps``, ``HnswIndex``) validate and convert every argument once
and then call these methods, so a backend only implements the arithmetic.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from .models import HnswConfig, IndexStats, Metric, QuantizationConfig, QuantizedVectors

Vector = np.ndarray  # float32, shape (d,), C-contiguous, finite
Matrix = np.ndarray  # float32, shape (n, d), C-contiguous, finite


@runtime_checkable
class VectorKernels(Protocol):
    def distance(self, a: Vector, b: Vector, metric: Metric) -> float:
        """Distance, lower is closer: ``1 - cos`` for cosine, L2 for euclidean, ``-a.b`` for dot."""

    def batch_distance(self, query: Vector, matrix: Matrix, metric: Metric) -> np.ndarray:
        """Distances from ``query`` to every row, float32 of shape (n,)."""

    def normalize(self, matrix: Matrix) -> Matrix:
        """Rows scaled to unit L2 norm; all-zero rows stay zero."""

    def quantize(self, matrix: Matrix, config: QuantizationConfig) -> QuantizedVectors:
        """Compress rows as documented on ``QuantizationConfig``."""

    def dequantize(self, quantized: QuantizedVectors) -> Matrix:
        """Reconstruct float32 rows from ``quantize``'s output."""


@runtime_checkable
class HnswGraph(Protocol):
    """A backend's index. Ids are unique within a batch; an existing id is replaced."""

    config: HnswConfig

    def insert_batch(self, ids: list[str], vectors: Matrix) -> None: ...

    def allow_mask(self, ids: list[str]) -> np.ndarray:
        """A filter for ``search``: a bool array with one entry per node the graph holds now
        (deleted nodes included, in the index format's node order), True exactly at the
        live node of each id in ``ids``; ids the index does not hold are ignored."""

    def search(self, query: Vector, k: int, ef: int, allow: np.ndarray | None = None) -> list[tuple[str, float]]:
        """At most ``k`` live (id, similarity) pairs, best first.

        With ``allow`` (an ``allow_mask`` result, possibly made before later inserts: nodes
        past its end are not allowed), only allowed live nodes are returned, and exactly
        ``min(k, allowed live nodes)`` of them: the traversal walks through disallowed nodes
        but keeps only allowed ones, and falls back to an exact scan of the allowed vectors
        whenever the walk finds fewer than that (or when so few are allowed that a scan is
        cheaper). The filter is applied inside the search, never after it.
        """

    def search_batch(
        self, queries: Matrix, k: int, ef: int, allow: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores) of shape (q, k): object array of str and float32 array, each row as
        ``search`` (with the same ``allow`` for every query) would answer.

        Rows with fewer than ``k`` hits are padded with ``None`` and ``-inf``.
        """

    def delete(self, id: str) -> bool: ...

    def __contains__(self, id: object) -> bool: ...

    def __len__(self) -> int: ...

    def ids(self) -> list[str]: ...

    def stats(self) -> IndexStats: ...

    def serialize(self) -> bytes: ...


@runtime_checkable
class Embedder(Protocol):
    """A text embedder. A backend's embedder also has ``TokenWindow`` (the conformance
    suite checks it); a wrapper around a model whose tokenizer it cannot see (a LangChain
    or LlamaIndex embedding) may leave it out, and its texts are then embedded whole."""

    dimensions: int

    def embed_batch(self, texts: list[str]) -> Matrix: ...

    def close(self) -> None: ...


@runtime_checkable
class TokenWindow(Protocol):
    """The model reads at most ``max_tokens`` tokens of a text (its own markers, such as
    BERT's [CLS] and [SEP], not counted) and ignores the rest; ``token_spans`` tells callers
    where those tokens are, so they can cut long texts into passages the model reads whole
    instead of losing their ends."""

    max_tokens: int

    def token_spans(self, texts: list[str]) -> list[np.ndarray]:
        """For each text, the character span ``[start, end)`` of every token the model
        would read with no length limit, markers left out: int64 arrays of shape (n, 2),
        in text order."""


@runtime_checkable
class LearningKernels(Protocol):
    """The hot loops of the learning system; the algorithms around them live in the core."""

    def pattern_similarities(self, query: Vector, embeddings: Matrix) -> np.ndarray:
        """``embeddings @ query`` for a unit query and unit rows: float32 of shape (n,)."""

    def lora_gradients(
        self, queries: np.ndarray, targets: np.ndarray, weights: np.ndarray, a: np.ndarray, b: np.ndarray, scale: float
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """Weighted mean squared error of ``x + scale x A B`` against the targets, and its
        gradients with respect to A and B (float64 arrays in, float64 out)."""

    def infonce_gradients(
        self, adapted: np.ndarray, targets: np.ndarray, positives: np.ndarray, weights: np.ndarray, temperature: float
    ) -> tuple[float, np.ndarray]:
        """Weighted InfoNCE of adapted queries (n, d), normalised inside, against unit targets
        (m, d), query ``i``'s positive at ``positives[i]`` and the other rows its negatives;
        the loss and its gradient with respect to ``adapted`` (float64 in and out)."""
