"""``rt.hnsw(...)``: the public index, a checking facade over a backend's graph.

Every argument of a write is validated in full before the backend is touched, so a bad call
raises a typed error and leaves the index exactly as it was; a search's query is checked for
NaN through its result (see ``HnswIndex.search``). Searches can be filtered to a set of ids
(``allow``): the backend applies the filter inside its graph walk, so ``k`` hits come back
whenever ``k`` allowed items exist.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, overload

import numpy as np

from .errors import InvalidInputError
from .models import HnswConfig, IndexStats, SearchResult
from .protocols import HnswGraph
from .validation import (
    as_storable_matrix,
    as_storable_vector,
    as_vector_unchecked,
    check_ef,
    check_id,
    check_ids,
    check_k,
)


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


class AllowList:
    """A prepared search filter: the ids a search may return, ready for one index.

    Made by ``HnswIndex.allowlist(ids)`` and meant to be reused across queries: preparing
    it reads every id once, a search with it does not. It follows the index: after an
    insert or a delete the index prepares it again before using it, so it never lets a
    replaced vector through or keeps a re-inserted one out.
    """

    __slots__ = ("_count", "_index", "_mask", "_writes", "ids")

    def __init__(self, index: HnswIndex, ids: frozenset[str]) -> None:
        self.ids = ids
        self._index = index
        self._writes = -1
        self._mask = np.zeros(0, dtype=bool)
        self._count = 0

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"AllowList({len(self.ids)} ids)"

    def mask_for(self, index: HnswIndex, graph: HnswGraph, writes: int) -> tuple[np.ndarray, int]:
        """The backend's mask and how many live nodes it allows, prepared again if stale."""
        if index is not self._index or writes != self._writes:
            self._mask = graph.allow_mask(list(self.ids))
            self._count = int(np.count_nonzero(self._mask))
            self._index, self._writes = index, writes
        return self._mask, self._count


Allow = AllowList | Iterable[str]


class HnswIndex:
    def __init__(self, graph: HnswGraph, backend: str) -> None:
        self._graph = graph
        self.backend = backend
        self._writes = 0  # inserts and deletes so far: when an AllowList must be prepared again
        # Read once: a compiled backend may build its config object anew on every access,
        # which would cost more per query than the validation does.
        self.config: HnswConfig = graph.config
        self.dimensions: int = self.config.dimensions
        self._default_ef = self.config.ef_search

    def insert(self, id: str, vector: Any) -> None:
        """Add ``vector`` under ``id``; an existing ``id`` is replaced."""
        vector = as_storable_vector(vector, self.dimensions)
        id = check_id(id)
        self._writes += 1
        self._graph.insert_batch([id], vector[None, :])

    def insert_batch(self, ids: Sequence[str], vectors: Any) -> None:
        matrix = as_storable_matrix(vectors, self.dimensions)
        checked = check_ids(ids, len(matrix))
        self._writes += 1
        self._graph.insert_batch(checked, matrix)

    def allowlist(self, ids: Iterable[str]) -> AllowList:
        """A filter for ``search(..., allow=...)`` over ``ids``, prepared once for many queries.
        Ids the index does not hold are allowed but never found."""
        return AllowList(self, frozenset(_allowed_ids(ids)))

    def search(self, query: Any, k: int = 10, ef: int | None = None, *, allow: Allow | None = None) -> SearchHits:
        """The ``k`` nearest live vectors, best first; fewer only if fewer exist.

        ``ef`` (default ``config.ef_search``) is the beam width; it is raised to ``k``.
        ``allow`` (ids, or an ``allowlist``) limits the hits to those ids; the backend walks
        its graph through the others, so the hits are the ``k`` nearest allowed vectors
        (``min(k, allowed)`` of them), as exact brute force over the allowed ones would find
        them up to the graph's recall.

        NaN and infinity in the query are detected through the result, as in
        ``VectorOps.distance``: a scan of the query costs as much as 1 % of a native search,
        while a non-finite component makes every distance non-finite (backends propagate
        NaN; the conformance suite checks that they do), and a search changes nothing, so
        raising afterwards is safe. Stored vectors are bounded (``MAX_COMPONENT``), so only a
        query beyond that bound can overflow a score; it is then refused the same way.
        """
        vector = as_vector_unchecked(query, self.dimensions, "query")
        k = check_k(k)
        if allow is None:  # the hot path: nothing more than the backend's own search
            pairs = self._graph.search(vector, k, self._ef(ef, k))
        else:
            mask, allowed = self._mask(allow)
            pairs = self._graph.search(vector, k, self._ef(ef, k), mask) if allowed else []
        if not pairs or not math.isfinite(sum(score for _, score in pairs)):
            as_storable_vector(vector, what="query")  # raises: only an unbounded query overflows
        if any(later[1] > earlier[1] for earlier, later in zip(pairs, pairs[1:], strict=False)):
            # a backend ranks by its float32 distances and may report scores computed more
            # exactly; near ties of huge vectors can then disagree in the last digits
            pairs = sorted(pairs, key=lambda pair: -pair[1])
        return SearchHits(pairs)

    def search_batch(
        self, queries: Any, k: int = 10, ef: int | None = None, *, allow: Allow | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores), each of shape (len(queries), k): an object array of str and a
        float32 array; rows are padded with None and -inf only when fewer than k live
        (and allowed, with ``allow`` as in ``search``) vectors exist."""
        matrix = as_storable_matrix(queries, self.dimensions, "queries")
        k = check_k(k)
        if allow is None:
            return self._graph.search_batch(matrix, k, self._ef(ef, k))
        mask, allowed = self._mask(allow)
        if not allowed:
            return np.full((len(matrix), k), None, dtype=object), np.full((len(matrix), k), -np.inf, dtype=np.float32)
        return self._graph.search_batch(matrix, k, self._ef(ef, k), mask)

    def delete(self, id: str) -> bool:
        """Remove ``id``; False if it was not there (the index is then unchanged)."""
        id = check_id(id)
        self._writes += 1
        return self._graph.delete(id)

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

    def _mask(self, allow: Allow) -> tuple[np.ndarray, int]:
        """The backend's mask for ``allow`` and how many live nodes it lets through."""
        prepared = allow if isinstance(allow, AllowList) else self.allowlist(allow)
        return prepared.mask_for(self, self._graph, self._writes)

    def _ef(self, ef: int | None, k: int) -> int:
        ef = self._default_ef if ef is None else check_ef(ef)
        return ef if ef > k else k


def _allowed_ids(ids: Iterable[str]) -> list[str]:
    if isinstance(ids, str) or not isinstance(ids, Iterable):
        raise InvalidInputError("allow takes an iterable of ids (or an allowlist), not one string")
    return [check_id(i) for i in ids]
