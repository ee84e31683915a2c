"""``RuvectorVectorStore``: LangChain's ``VectorStore`` on an ``rv.Memory`` folder.

The memory stores, filters and searches; this class translates. Documents are items of one
namespace (their ids are the items' ids, and adding an id that exists replaces it, as
LangChain's contract asks); ``filter=`` is the memory's ``where`` language (Chroma's and
MongoDB's: ``{"user": "ana"}``, ``{"year": {"$gte": 2024}}``, ``$and``/``$or``/``$not``),
applied inside the HNSW graph walk, so ``k`` documents come back whenever ``k`` match.

With ``embedding=None`` the memory embeds texts and queries itself (ruvector's model); with
a LangChain ``Embeddings`` object, documents go through its ``embed_documents`` and queries
through its ``embed_query``, and the vectors are handed to the memory.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

import ruvector_core as rv

from ._wrapped import as_embedder

DEFAULT_NAMESPACE = "default"


class RuvectorVectorStore(VectorStore):
    """Documents in the memory folder ``path`` (created on first use), in ``namespace``.

    ``model`` picks ruvector's embedding model when ``embedding`` is None (default: the one
    the store was built with, or all-MiniLM-L6-v2). A store remembers which model made its
    vectors and refuses to open with another. Scores are cosine similarities, higher is
    better. Close it (or use ``with``) when done.
    """

    def __init__(
        self,
        path: str | Path,
        embedding: Embeddings | None = None,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        model: str | None = None,
    ) -> None:
        if not isinstance(namespace, str) or not namespace:
            raise rv.InvalidInputError(f"namespace must be a non-empty string, got {namespace!r}")
        self._embedding = embedding
        self.namespace = namespace
        if embedding is None:
            self.memory = rv.Memory.open(path, model=model, progress=False)
        else:
            self.memory = rv.Memory.open(path, model=model, embedder=as_embedder(embedding), progress=False)
        # one SQLite connection: LangChain's async methods run the sync ones in threads
        self._lock = threading.Lock()

    def close(self) -> None:
        self.memory.close()

    def __enter__(self) -> RuvectorVectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def embeddings(self) -> Embeddings | None:
        return self._embedding

    # -- writing -----------------------------------------------------------------------

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Store the texts (replacing any with the same id) and return their ids; an id
        that is None or missing gets a new random one."""
        _no_more(kwargs)
        batch = list(texts)
        if ids is not None and len(ids) != len(batch):
            raise rv.InvalidInputError(f"got {len(ids)} ids for {len(batch)} texts")
        # LangChain's add_documents passes None for documents without an id
        given: list[str | None] = list(ids) if ids is not None else [None] * len(batch)
        item_ids = [i if i is not None else uuid.uuid4().hex for i in given]
        if not batch:
            return []
        vectors = None if self._embedding is None else self._embedding.embed_documents(batch)
        with self._lock:
            return self.memory.upsert(batch, metadatas, ids=item_ids, namespace=self.namespace, vectors=vectors)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Remove the documents with these ids (absent ones are ignored). ``where=`` removes
        the documents matching a filter; with neither, every document of the namespace goes,
        as LangChain's contract says."""
        where = kwargs.pop("where", None)
        if kwargs:
            raise rv.InvalidInputError(f"unexpected arguments: {', '.join(sorted(kwargs))}")
        if ids is not None and not ids:
            return True
        with self._lock:
            self.memory.delete(ids=_distinct(ids) if ids is not None else None, where=where, namespace=self.namespace)
        return True

    # -- reading -----------------------------------------------------------------------

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The documents with these ids, in the order asked; ids not stored are left out."""
        if not ids:
            return []
        with self._lock:
            items = self.memory.get(_distinct(ids), namespace=self.namespace)
        return [Document(id=item.id, page_content=item.text, metadata=item.metadata) for item in items]

    def similarity_search(
        self, query: str, k: int = 4, filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score(query, k, filter, **kwargs)]

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """The ``k`` documents closest to ``query`` among those ``filter`` allows, with
        their cosine similarity, best first."""
        _no_more(kwargs)
        if self._embedding is None:
            return self._search(query, k, filter)
        return self._search(self._embedding.embed_query(query), k, filter)

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score_by_vector(embedding, k, filter, **kwargs)]

    def similarity_search_with_score_by_vector(
        self, embedding: list[float], k: int = 4, filter: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        _no_more(kwargs)
        return self._search(embedding, k, filter)

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        """Cosine similarity in [-1, 1] onto LangChain's relevance in [0, 1]."""
        return _cosine_relevance

    def _search(self, query: str | list[float], k: int, where: dict[str, Any] | None) -> list[tuple[Document, float]]:
        with self._lock:
            hits = self.memory.search(query, k=k, where=where, namespace=self.namespace)
        return [(Document(id=hit.id, page_content=hit.text, metadata=hit.metadata), hit.score) for hit in hits]

    # -- construction ------------------------------------------------------------------

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings | None,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> RuvectorVectorStore:
        """A store in ``path=`` (required keyword) holding these texts; the other keywords
        (``namespace``, ``model``) are the constructor's."""
        if "path" not in kwargs:
            raise rv.InvalidInputError("from_texts needs path=, the memory folder")
        store = cls(kwargs.pop("path"), embedding, **kwargs)
        try:
            store.add_texts(texts, metadatas, ids=list(ids) if ids is not None else None)
        except BaseException:
            store.close()
            raise
        return store


def _cosine_relevance(similarity: float) -> float:
    return (1.0 + similarity) / 2.0


def _distinct(ids: Sequence[str]) -> list[str]:
    """The ids once each, in order (the memory refuses repeats within one call)."""
    return list(dict.fromkeys(ids))


def _no_more(kwargs: dict[str, Any]) -> None:
    if kwargs:
        raise rv.InvalidInputError(f"unexpected arguments: {', '.join(sorted(kwargs))}")
