"""``RuvectorVectorStore``: LlamaIndex's vector store on an ``rv.Memory`` folder.

Nodes are items of one namespace: the node id is the item id, the text is the item's text,
and the metadata is LlamaIndex's own serialisation (``node_to_metadata_dict``: the node's
metadata at the top level, where filters see it, plus the node's JSON and its document
ids) with the node id under ``_node_id`` (for queries restricted to ``node_ids``), so a
query hands back the very nodes that were added. Vectors come from the nodes (LlamaIndex
embeds them); ``MetadataFilters`` become the memory's ``where`` and are applied inside the
HNSW graph walk, so ``similarity_top_k`` nodes come back whenever that many match.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import BaseNode, MetadataMode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict

import ruvector_core as rv
from llama_index.vector_stores.ruvector._wrapped import as_embedder
from llama_index.vector_stores.ruvector.filters import to_where

#: the metadata key holding each node's id, so queries can be restricted to given nodes
NODE_ID_KEY = "_node_id"
#: LlamaIndex's query modes and the memory's search modes they are
_MODES: dict[VectorStoreQueryMode, Literal["vector", "keyword", "hybrid"]] = {
    VectorStoreQueryMode.DEFAULT: "vector",
    VectorStoreQueryMode.TEXT_SEARCH: "keyword",
    VectorStoreQueryMode.HYBRID: "hybrid",
}


class RuvectorVectorStore(BasePydanticVectorStore):
    """Nodes in the memory folder ``path`` (created on first use), in ``namespace``.

    ``model`` is the ruvector embedding model whose vectors the store holds (default: the
    one the store was built with, or all-MiniLM-L6-v2, which ``RuvectorEmbedding`` runs);
    ``embed_model`` instead names the LlamaIndex embedding model that embeds the nodes (the
    index's), whose dimension sizes a new store and whose name it records, so it refuses
    to reopen with another. Nodes must carry vectors of that dimension. Query modes: ``default`` (by the query
    vector), ``text_search`` (BM25 over the texts) and ``hybrid`` (both, fused by rank; the
    memory embeds ``query_str`` itself). Close it (or use ``with``) when done.
    """

    stores_text: bool = True
    flat_metadata: bool = False
    path: str
    namespace: str = "default"

    _memory: rv.Memory = PrivateAttr()
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(
        self,
        path: str | Path,
        namespace: str = "default",
        model: str | None = None,
        embed_model: BaseEmbedding | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(namespace, str) or not namespace:
            raise rv.InvalidInputError(f"namespace must be a non-empty string, got {namespace!r}")
        super().__init__(path=str(path), namespace=namespace, **kwargs)
        embedder = None if embed_model is None else as_embedder(embed_model)
        self._memory = rv.Memory.open(path, model=model, embedder=embedder, progress=False)

    @classmethod
    def class_name(cls) -> str:
        return "RuvectorVectorStore"

    @property
    def client(self) -> rv.Memory:
        """The ``rv.Memory`` underneath."""
        return self._memory

    def close(self) -> None:
        self._memory.close()

    def __enter__(self) -> RuvectorVectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------------

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Store the nodes with their vectors, replacing nodes with the same ids."""
        if not nodes:
            return []
        vectors = []
        for node in nodes:
            if node.embedding is None:
                raise rv.InvalidInputError(f"node {node.node_id!r} has no embedding; embed nodes before adding them")
            vectors.append(node.embedding)
        with self._lock:
            return self._memory.upsert(
                [node.get_content(metadata_mode=MetadataMode.NONE) for node in nodes],
                [_metadata(node, self.flat_metadata) for node in nodes],
                ids=[node.node_id for node in nodes],
                namespace=self.namespace,
                vectors=vectors,
            )

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Remove every node of the document ``ref_doc_id``."""
        with self._lock:
            self._memory.delete(where={"ref_doc_id": ref_doc_id}, namespace=self.namespace)

    def delete_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None, **delete_kwargs: Any
    ) -> None:
        """Remove the nodes with these ids and/or matching ``filters``; with neither, nothing."""
        where = to_where(filters)
        if node_ids is None and where is None or node_ids is not None and not node_ids:
            return
        with self._lock:
            self._memory.delete(ids=node_ids, where=where, namespace=self.namespace)

    def clear(self) -> None:
        """Remove every node of the namespace."""
        with self._lock:
            self._memory.delete(namespace=self.namespace)

    # -- reading -----------------------------------------------------------------------

    def get_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None) -> list[BaseNode]:
        """The nodes with these ids (those stored, in the order asked)."""
        if node_ids is None or filters is not None:
            raise rv.InvalidInputError("get_nodes takes node_ids only; use a query to select nodes by filters")
        with self._lock:
            items = self._memory.get(list(dict.fromkeys(node_ids)), namespace=self.namespace)
        return [metadata_dict_to_node(item.metadata, text=item.text) for item in items]

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """The ``similarity_top_k`` best nodes among those the filters and ``doc_ids`` allow."""
        mode = _MODES.get(query.mode)
        if mode is None:
            supported = ", ".join(m.value for m in _MODES)
            raise rv.InvalidInputError(f"query mode {query.mode.value!r} is not supported (supported: {supported})")
        # an empty list restricts nothing: a VectorStoreIndex over a store that keeps the
        # texts passes its (empty) list of nodes it holds itself
        where = _all_of(
            to_where(query.filters),
            {"ref_doc_id": {"$in": list(query.doc_ids)}} if query.doc_ids else None,
            {NODE_ID_KEY: {"$in": list(query.node_ids)}} if query.node_ids else None,
        )
        target: str | list[float] | None = query.query_str if mode != "vector" else query.query_embedding
        if target is None and mode == "vector":
            target = query.query_str  # the memory embeds it with its own model
        if target is None:
            needs = "query_str" if mode != "vector" else "query_embedding or query_str"
            raise rv.InvalidInputError(f"a {query.mode.value} query needs {needs}")
        k = query.hybrid_top_k if mode == "hybrid" and query.hybrid_top_k else query.similarity_top_k
        with self._lock:
            hits = self._memory.search(target, k=k, where=where, namespace=self.namespace, mode=mode)
        return VectorStoreQueryResult(
            nodes=[metadata_dict_to_node(hit.metadata, text=hit.text) for hit in hits],
            similarities=[hit.score for hit in hits],
            ids=[hit.id for hit in hits],
        )


def _metadata(node: BaseNode, flat: bool) -> dict[str, Any]:
    metadata = node_to_metadata_dict(node, remove_text=True, flat_metadata=flat)
    metadata[NODE_ID_KEY] = node.node_id
    return metadata


def _all_of(*wheres: dict[str, Any] | None) -> dict[str, Any] | None:
    present = [w for w in wheres if w is not None]
    if not present:
        return None
    return present[0] if len(present) == 1 else {"$and": present}
