"""``rt.hnsw(...)``: the public index, a checking facade over a backend's graph.

Every argument of a write is validated in full before the backend is touched, so a bad call
raises a typed error and leaves the index exactly as it was; a search's query is checked for
NaN through its result (see ``HnswIndex.search``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, overload

import numpy as np

from .models import HnswConfig, IndexStats, SearchResult
from .protocols import HnswGraph
from .validation import as_matrix, as_vector, as_vector_unchecked, check_ef, check_id, check_ids, check_k


class SearchHits(Sequence[SearchResult]):
    """The hits of one search: a read-only sequence of ``SearchResult``, best first.

    Building ten pydantic models costs more than an HNSW search on a native backend, so
    each ``SearchResult`` is made when it is read; ``ids`` and ``scores`` give the plain
    values without making any.
    """

    __slots__ = ("_pairs",)

    def __init__(self, pairs: list[tuple[str, float]]) -> None:
        self._pairs = pairs

    @property
    def ids(self) -> list[str]:
        return [i for i, _ in self._pairs]

    @property
    def scores(self) -> list[float]:
        return [float(s) for _, s in self._pairs]

    def __len__(self) -> int:
        return len(self._pairs)

    @overload
    def __getitem__(self, index: int) -> SearchResult: ...

    @overload
    def __getitem__(self, index: slice) -> list[SearchResult]: ...

    def __getitem__(self, index: int | slice) -> SearchResult | list[SearchResult]:
        if isinstance(index, slice):
            return [SearchResult(id=i, score=s) for i, s in self._pairs[index]]
        id_, score = self._pairs[index]
        return SearchResult(id=id_, score=score)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SearchHits):
            return self._pairs == other._pairs
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(list(self))


class HnswIndex:
    def __init__(self, graph: HnswGraph, backend: str) -> None:
        self._graph = graph
        self.backend = backend
        # Read once: a compiled backend may build its config object anew on every access,
        # which would cost more per query than the validation does.
        self.config: HnswConfig = graph.config
        self.dimensions: int = self.config.dimensions
        self._default_ef = self.config.ef_search

    def insert(self, id: str, vector: Any) -> None:
        """Add ``vector`` under ``id``; an existing ``id`` is replaced."""
        vector = as_vector(vector, self.dimensions)
        self._graph.insert_batch([check_id(id)], vector[None, :])

    def insert_batch(self, ids: Sequence[str], vectors: Any) -> None:
        matrix = as_matrix(vectors, self.dimensions)
        self._graph.insert_batch(check_ids(ids, len(matrix)), matrix)

    def search(self, query: Any, k: int = 10, ef: int | None = None) -> SearchHits:
        """The ``k`` nearest live vectors, best first; fewer only if fewer exist.

        ``ef`` (default ``config.ef_search``) is the beam width; it is raised to ``k``.

        NaN and infinity in the query are detected through the result, as in
        ``VectorOps.distance``: a scan of the query costs as much as 1 % of a native search,
        while a non-finite component makes every distance non-finite (backends propagate
        NaN; the conformance suite checks that they do), and a search changes nothing, so
        raising afterwards is safe.
        """
        vector = as_vector_unchecked(query, self.dimensions, "query")
        k = check_k(k)
        pairs = self._graph.search(vector, k, self._ef(ef, k))
        if not pairs or not math.isfinite(pairs[0][1]):
            as_vector(vector, what="query")  # raises unless only an overflow made it non-finite
        return SearchHits(pairs)

    def search_batch(self, queries: Any, k: int = 10, ef: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores), each of shape (len(queries), k): an object array of str and a
        float32 array; rows are padded with None and -inf only when fewer than k live
        vectors exist."""
        matrix = as_matrix(queries, self.dimensions, "queries")
        return self._graph.search_batch(matrix, check_k(k), self._ef(ef, k))

    def delete(self, id: str) -> bool:
        """Remove ``id``; False if it was not there (the index is then unchanged)."""
        return self._graph.delete(check_id(id))

    def __contains__(self, id: object) -> bool:
        return isinstance(id, str) and id in self._graph

    def __len__(self) -> int:
        return len(self._graph)

    def ids(self) -> list[str]:
        return self._graph.ids()

    def stats(self) -> IndexStats:
        return self._graph.stats()

    def serialize(self) -> bytes:
        """The index in the format of docs/format.md, loadable by every backend."""
        return self._graph.serialize()

    def __repr__(self) -> str:
        c = self.config
        return f"HnswIndex(backend={self.backend!r}, dimensions={c.dimensions}, metric={c.metric!r}, count={len(self)})"

    def _ef(self, ef: int | None, k: int) -> int:
        ef = self._default_ef if ef is None else check_ef(ef)
        return ef if ef > k else k
