"""An embedder over a kernel that embeds packed token batches: the texts' token ids one
after another and each text's length (ruvector-kernels' encoder, in the native extension
or the wasm module). Such a kernel never pads, so a batch needs no length sorting; it is
only cut into runs of at most ``batch_size`` texts to bound the kernel's memory.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ruvector_core.errors import ModelError
from ruvector_core.models import EmbedderConfig

from .modelfiles import ModelFiles
from .tokens import marker_count, span_tokenizer, text_spans, tokenizer

#: ``run(ids, lengths)``: uint32 token ids and uint32 lengths in, float32 (texts, dimensions) out
PackedRun = Callable[[np.ndarray, np.ndarray], np.ndarray]


class PackedEmbedder:
    """``protocols.Embedder`` and ``protocols.TokenWindow`` over a ``PackedRun``; safe to call
    from several threads when ``run`` is (tokenizers are)."""

    def __init__(
        self,
        files: ModelFiles,
        config: EmbedderConfig,
        run: PackedRun,
        positions: int,
        release: Callable[[], None] | None = None,
    ) -> None:
        """``positions``: the most tokens the kernel takes per text; ``release``: what
        ``close`` calls to free the kernel's resources (threads, instances)."""
        self.name = files.name
        self._run = run
        self._release = release
        self._batch_size = config.batch_size
        # the encoder has ``positions`` position embeddings: no text may be longer
        self._tokenizer = tokenizer(files, min(config.max_length, positions))
        self._spans = span_tokenizer(files)
        #: the tokenizer truncates at ``max_length`` tokens, its markers included
        self.max_tokens = min(config.max_length, positions) - marker_count(self._tokenizer)
        if self.max_tokens < 1:
            raise ModelError(f"max_length {config.max_length} leaves no room for text beside the model's markers")
        self.dimensions = int(self.embed_batch([""]).shape[1])

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        runs = []
        for start in range(0, len(encodings), self._batch_size):
            run = encodings[start : start + self._batch_size]
            ids = np.fromiter((i for e in run for i in e.ids), dtype=np.uint32)
            lengths = np.fromiter((len(e.ids) for e in run), dtype=np.uint32, count=len(run))
            runs.append(self._run(ids, lengths))
        return runs[0] if len(runs) == 1 else np.vstack(runs)

    def token_spans(self, texts: list[str]) -> list[np.ndarray]:
        return text_spans(self._spans, texts)

    def close(self) -> None:
        if self._release is not None:
            self._release()
            self._release = None
