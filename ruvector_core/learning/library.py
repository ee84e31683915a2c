"""A searchable, updatable collection of patterns.

Exact matching is one matrix-vector product, which for tens of thousands of 384-d patterns
takes a few milliseconds; above ``hnsw_above`` patterns an HNSW index narrows the
candidates first, widening its search until every pattern above the threshold is in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import InvalidInputError, UnknownIdError
from ..hnsw_index import HnswIndex
from ..models import HnswConfig
from ..validation import as_vector
from .models import Pattern, PatternMatch
from .patterns import DEFAULT_THRESHOLD, rank_matches
from .persistence import load_patterns, save_patterns

#: cosine similarities of a query to unit rows: ``Learning.similarities`` on the serving kernels
Similarities = Callable[[np.ndarray, np.ndarray], np.ndarray]
#: makes the HNSW index that narrows candidates in a large library: ``Runtime.hnsw``
IndexFactory = Callable[[HnswConfig], HnswIndex]

_FIRST_CANDIDATES = 64


class LibraryMaker(Protocol):
    """What makes libraries on a backend's kernels: ``rt.learning``."""

    def pattern_library(self, initial: Iterable[Pattern] = (), hnsw_above: int = 20_000) -> PatternLibrary: ...


class PatternLibrary:
    def __init__(
        self,
        similarities: Similarities,
        new_index: IndexFactory,
        patterns: Iterable[Pattern] = (),
        hnsw_above: int = 20_000,
    ) -> None:
        self._similarities = similarities
        self._new_index = new_index
        self._hnsw_above = hnsw_above
        self._patterns: dict[str, Pattern] = {}
        self._row: dict[str, int] = {}
        self._ids: list[str | None] = []
        self._matrix = np.empty((0, 0), dtype=np.float32)
        self._index: HnswIndex | None = None
        for pattern in patterns:
            self.add(pattern)

    def __len__(self) -> int:
        return len(self._patterns)

    def __iter__(self) -> Iterator[Pattern]:
        return iter(list(self._patterns.values()))

    def __contains__(self, id: object) -> bool:
        return id in self._patterns

    def get(self, id: str) -> Pattern:
        try:
            return self._patterns[id]
        except KeyError:
            raise UnknownIdError(f"no pattern with id {id!r}") from None

    def add(self, pattern: Pattern) -> None:
        """Add or replace a pattern (by id)."""
        if self._matrix.size and pattern.embedding.shape[0] != self._matrix.shape[1]:
            raise InvalidInputError(
                f"pattern has {pattern.embedding.shape[0]} dimensions, the library {self._matrix.shape[1]}"
            )
        if pattern.id in self._patterns:
            self.remove(pattern.id)
        self._patterns[pattern.id] = pattern
        self._row[pattern.id] = len(self._ids)
        self._ids.append(pattern.id)
        self._append_row(pattern.embedding)
        if self._index is not None:
            self._index.insert(pattern.id, pattern.embedding)
        elif len(self._patterns) > self._hnsw_above:
            self._build_index()

    def remove(self, id: str) -> Pattern:
        pattern = self.get(id)
        del self._patterns[id]
        self._ids[self._row.pop(id)] = None  # the row stays; it is never a match again
        if self._index is not None:
            self._index.delete(id)
        return pattern

    def feedback(self, id: str, success: bool) -> Pattern:
        """Record one use of a pattern and whether it worked."""
        updated = self.get(id).with_feedback(success)
        self._patterns[id] = updated
        return updated

    def match(self, query: Any, threshold: float = DEFAULT_THRESHOLD, k: int = 5) -> list[PatternMatch]:
        """Active patterns with cosine similarity >= threshold, best similarity*confidence first."""
        if not self._patterns:
            return []
        query = as_vector(query, self._matrix.shape[1], "query")
        if self._index is None:
            sims = self._similarities(query, self._matrix[: len(self._ids)])
            rows = np.flatnonzero(sims >= threshold)
            ids = [self._ids[r] for r in rows]
            live = [(i, s) for i, s in zip(ids, sims[rows], strict=True) if i is not None]
        else:
            live = self._candidates(query, threshold)
        return rank_matches(np.array([s for _, s in live]), [self._patterns[i] for i, _ in live], threshold, k)

    def save(self, path: str | Path) -> None:
        save_patterns(path, self._patterns.values())

    @classmethod
    def load(cls, learning: LibraryMaker, path: str | Path, hnsw_above: int = 20_000) -> PatternLibrary:
        """A library of the patterns saved at ``path``, on ``learning``'s (``rt.learning``'s) kernels."""
        return learning.pattern_library(load_patterns(path), hnsw_above)

    def _candidates(self, query: np.ndarray, threshold: float) -> list[tuple[str, float]]:
        """Widen the HNSW search until the weakest hit falls below the threshold."""
        assert self._index is not None
        k = _FIRST_CANDIDATES
        while True:
            hits = self._index.search(query, k=k, ef=max(k, 2 * _FIRST_CANDIDATES))
            if len(hits) < k or hits[-1].score < threshold:
                return [(h.id, h.score) for h in hits if h.score >= threshold]
            k *= 4

    def _append_row(self, embedding: np.ndarray) -> None:
        """Store the unit-length embedding in row ``len(self._ids) - 1`` (amortised growth)."""
        n = len(self._ids)
        if self._matrix.shape[0] < n:
            grown = np.empty((max(n, 2 * self._matrix.shape[0], 16), embedding.shape[0]), dtype=np.float32)
            if n > 1:
                grown[: n - 1] = self._matrix[: n - 1]
            self._matrix = grown
        norm = float(np.linalg.norm(embedding))
        self._matrix[n - 1] = embedding / norm if norm else embedding

    def _build_index(self) -> None:
        dims = self._matrix.shape[1]
        index = self._new_index(HnswConfig(dimensions=dims, metric="cosine"))
        ids = list(self._patterns)
        index.insert_batch(ids, np.stack([self._patterns[i].embedding for i in ids]))
        self._index = index
