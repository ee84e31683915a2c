"""A LangChain ``Embeddings`` object as an ``rv.Embedder``, so an ``rv.Memory`` can be sized
by it and record which model its vectors came from."""

from __future__ import annotations

import numpy as np
from langchain_core.embeddings import Embeddings

import ruvector_core as rv

from .embeddings import RuvectorEmbeddings

#: embedded once when a store opens, to learn the model's dimension
DIMENSION_PROBE = "ruvector dimension probe"


class _DocumentEmbedder:
    """The backend protocol of ``rv.Embedder`` on ``embed_documents``."""

    def __init__(self, embedding: Embeddings) -> None:
        self._embedding = embedding
        self.dimensions = len(embedding.embed_documents([DIMENSION_PROBE])[0])

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._embedding.embed_documents(texts), dtype=np.float32).reshape(len(texts), -1)

    def close(self) -> None:
        """The LangChain object is the caller's: nothing to free here."""


def model_name(embedding: Embeddings) -> str:
    """The name a store records for vectors from ``embedding``: the class, and the model it
    runs when the object says (``model`` or ``model_name``), so a store is not reopened
    with vectors of another model."""
    if isinstance(embedding, RuvectorEmbeddings):
        return embedding.model  # ruvector's own model: the store reads like any other (CLI included)
    name = f"langchain:{type(embedding).__qualname__}"
    model = getattr(embedding, "model", None) or getattr(embedding, "model_name", None)
    return f"{name}:{model}" if isinstance(model, str) else name


def as_embedder(embedding: Embeddings) -> rv.Embedder:
    """``embedding`` as the ``rv.Embedder`` an ``rv.Memory`` is opened with."""
    if isinstance(embedding, RuvectorEmbeddings):
        return embedding.embedder  # shared, not loaded twice
    config = rv.EmbedderConfig(model=model_name(embedding))
    return rv.Embedder(_DocumentEmbedder(embedding), backend="langchain", config=config)
