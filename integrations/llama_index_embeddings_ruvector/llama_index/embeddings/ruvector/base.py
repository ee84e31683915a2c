"""``RuvectorEmbedding``: ruvector's embedder (all-MiniLM-L6-v2 on ONNX Runtime by default)
behind LlamaIndex's ``BaseEmbedding``, so ``VectorStoreIndex`` and its retrievers embed
documents and queries locally, with nothing fetched from a model hub."""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr

import ruvector_core as rv


class RuvectorEmbedding(BaseEmbedding):
    """Unit-length vectors from ``rv.Runtime.initialize().embedder(...)``.

    ``model_name`` is what ``rv.EmbedderConfig(model=...)`` takes (a known name, a folder,
    an ``.onnx`` file or a URL). The model loads when the object is made; ``close()`` frees
    it. Queries and texts are embedded alike (the model is symmetric); async calls run in a
    worker thread so the event loop keeps going.
    """

    model_name: str = Field(default=rv.EmbedderConfig().model, description="ruvector embedding model")
    _embedder: rv.Embedder = PrivateAttr()

    def __init__(self, model_name: str = rv.EmbedderConfig().model, **kwargs: Any) -> None:
        super().__init__(model_name=model_name, **kwargs)
        self._embedder = rv.Runtime.initialize().embedder(rv.EmbedderConfig(model=model_name, progress=False))

    @classmethod
    def class_name(cls) -> str:
        return "RuvectorEmbedding"

    @property
    def embedder(self) -> rv.Embedder:
        """The ruvector embedder doing the work."""
        return self._embedder

    def close(self) -> None:
        self._embedder.close()

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._get_text_embedding(query)

    def _get_text_embedding(self, text: str) -> Embedding:
        vector: Embedding = self._embedder.embed(text).tolist()
        return vector

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        vectors: list[Embedding] = self._embedder.embed_batch(texts).tolist()
        return vectors

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return await asyncio.to_thread(self._get_text_embedding, query)

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return await asyncio.to_thread(self._get_text_embedding, text)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await asyncio.to_thread(self._get_text_embeddings, texts)
