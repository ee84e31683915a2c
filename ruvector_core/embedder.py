"""``rt.embedder(...)``: text in, unit-length float32 vectors out."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import InvalidInputError, RuvectorError
from .models import EmbedderConfig
from .protocols import Embedder as BackendEmbedder


class Embedder:
    def __init__(self, embedder: BackendEmbedder, backend: str, config: EmbedderConfig) -> None:
        self._embedder: BackendEmbedder | None = embedder
        self.backend = backend
        self.config = config
        self.dimensions = int(embedder.dimensions)
        self._lock = threading.Lock()

    def embed(self, text: str) -> np.ndarray:
        """One text to one vector of shape (dimensions,)."""
        vector: np.ndarray = self.embed_batch([_check_text(text)])[0]
        return vector

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Texts to an array of shape (len(texts), dimensions), in input order."""
        if isinstance(texts, str):
            raise InvalidInputError("embed_batch takes a sequence of strings; use embed for one text")
        checked = [_check_text(t) for t in texts]
        if not checked:
            return np.empty((0, self.dimensions), dtype=np.float32)
        return self._backend().embed_batch(checked)

    def close(self) -> None:
        with self._lock:
            if self._embedder is not None:
                self._embedder.close()
                self._embedder = None

    def __enter__(self) -> Embedder:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _backend(self) -> BackendEmbedder:
        embedder = self._embedder
        if embedder is None:
            raise RuvectorError("this embedder is closed")
        return embedder


def _check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise InvalidInputError(f"texts must be str, got {type(text).__name__}")
    return text
