"""``rt.embedder(...)``: text in, unit-length float32 vectors out."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import CapabilityUnavailableError, InvalidInputError, RuvectorError
from .models import EmbedderConfig
from .protocols import Embedder as BackendEmbedder
from .protocols import TokenWindow


class Embedder:
    """What ``rt.embedder()`` hands out: checks its input and calls the serving backend."""

    def __init__(self, embedder: BackendEmbedder, backend: str, config: EmbedderConfig) -> None:
        self._embedder: BackendEmbedder | None = embedder
        self.backend = backend
        self.config = config
        self.dimensions = int(embedder.dimensions)
        self._window = embedder if isinstance(embedder, TokenWindow) else None
        #: the most tokens of one text the model reads (its markers not counted; the rest
        #: of a longer text does not change its embedding), or None when the embedder
        #: does not tell (see ``protocols.TokenWindow``)
        self.max_tokens = int(self._window.max_tokens) if self._window is not None else None
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

    def token_spans(self, texts: Sequence[str]) -> list[np.ndarray]:
        """For each text, the character span ``[start, end)`` of each of its tokens, with no
        length limit: int64 arrays of shape (n, 2). ``len(spans) > max_tokens`` means the
        model reads only the text up to ``spans[max_tokens - 1, 1]``."""
        if isinstance(texts, str):
            raise InvalidInputError("token_spans takes a sequence of strings")
        checked = [_check_text(t) for t in texts]
        self._backend()  # a closed embedder says so
        if self._window is None:
            raise CapabilityUnavailableError(f"the {self.backend} embedder does not tell its tokens")
        return self._window.token_spans(checked) if checked else []

    def token_count(self, text: str) -> int | None:
        """How many tokens ``text`` has (markers not counted), however long it is; None when
        the embedder does not tell."""
        return len(self.token_spans([text])[0]) if self._window is not None else None

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
