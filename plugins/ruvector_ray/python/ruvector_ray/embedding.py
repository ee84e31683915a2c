"""Batch embedding on Ray Data: a callable class for ``Dataset.map_batches``.

Ray Data builds one instance per actor of the pool and calls it batch after batch, so the
model is loaded once per actor, not once per batch::

    ds = ray.data.from_items([{"id": ..., "text": ...}, ...])
    ds = ds.map_batches(EmbedBatch, concurrency=2, batch_size=256, batch_format="numpy")

The embedder is the installed one (``rv.Runtime.initialize().embedder(config)``), so the
vectors are exactly what ``Embedder.embed_batch`` gives in a single process.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import ruvector_core as rv
from ruvector_core.errors import InvalidInputError
from ruvector_core.models import EmbedderConfig


class EmbedBatch:
    """Adds ``embedding_column`` (float32, shape (rows, dimensions)) made from ``text_column``.

    ``config`` chooses the model and its threads; the default ``threads=1`` runs one ONNX
    thread per actor, so the actor count is what spreads the work over cores.
    """

    def __init__(
        self,
        text_column: str = "text",
        embedding_column: str = "embedding",
        config: EmbedderConfig | None = None,
    ) -> None:
        self.text_column = text_column
        self.embedding_column = embedding_column
        self.embedder = rv.Runtime.initialize().embedder(config or EmbedderConfig(threads=1, progress=False))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        if self.text_column not in batch:
            raise InvalidInputError(f"the batch has no column {self.text_column!r} (columns: {sorted(batch)})")
        texts = [str(t) for t in batch[self.text_column]]
        return {**batch, self.embedding_column: self.embedder.embed_batch(texts)}
