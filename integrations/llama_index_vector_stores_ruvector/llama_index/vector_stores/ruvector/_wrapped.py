"""A LlamaIndex embedding model as an ``rv.Embedder``, so an ``rv.Memory`` can be sized by
it and record which model its vectors came from."""

from __future__ import annotations

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding

import ruvector_core as rv

#: embedded once when a store opens, to learn the model's dimension
DIMENSION_PROBE = "ruvector dimension probe"


class _TextEmbedder:
    """The backend protocol of ``rv.Embedder`` on ``get_text_embedding_batch``."""

    def __init__(self, embed_model: BaseEmbedding) -> None:
        self._embed_model = embed_model
        self.dimensions = len(embed_model.get_text_embedding(DIMENSION_PROBE))

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        vectors = self._embed_model.get_text_embedding_batch(texts)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)

    def close(self) -> None:
        """The embedding model is the caller's: nothing to free here."""


def as_embedder(embed_model: BaseEmbedding) -> rv.Embedder:
    """``embed_model`` as the ``rv.Embedder`` a store's memory is opened with: ruvector's own
    embedder when the model has one (``RuvectorEmbedding``, shared rather than loaded twice,
    and recorded under its own name so the CLI reads the store), else a wrapper recorded as
    ``llama_index:<class>:<model_name>``."""
    own = getattr(embed_model, "embedder", None)
    if isinstance(own, rv.Embedder):
        return own
    name = f"llama_index:{embed_model.class_name()}:{embed_model.model_name}"
    return rv.Embedder(_TextEmbedder(embed_model), backend="llama_index", config=rv.EmbedderConfig(model=name))
