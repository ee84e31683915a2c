"""``RuvectorEmbeddings``: ruvector's embedder (all-MiniLM-L6-v2 on ONNX Runtime by default)
behind LangChain's ``Embeddings`` interface, so any LangChain component can use it."""

from __future__ import annotations

from typing import Any

from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

import ruvector_core as rv


class RuvectorEmbeddings(BaseModel, Embeddings):
    """Unit-length vectors from ``rv.Runtime.initialize().embedder(config)``.

    ``model`` is what ``rv.EmbedderConfig(model=...)`` takes (a known name, a folder, an
    ``.onnx`` file or a URL). The model loads when the object is made; ``close()`` frees it.
    Documents and queries are embedded alike (the model is symmetric).
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    model: str = Field(default=rv.EmbedderConfig().model)
    _embedder: rv.Embedder = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        self._embedder = rv.Runtime.initialize().embedder(rv.EmbedderConfig(model=self.model, progress=False))

    @property
    def embedder(self) -> rv.Embedder:
        """The ruvector embedder doing the work (e.g. to share it with an ``rv.Memory``)."""
        return self._embedder

    @property
    def dimensions(self) -> int:
        return self._embedder.dimensions

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = self._embedder.embed_batch(list(texts)).tolist()
        return vectors

    def embed_query(self, text: str) -> list[float]:
        vector: list[float] = self._embedder.embed(text).tolist()
        return vector

    def close(self) -> None:
        self._embedder.close()
