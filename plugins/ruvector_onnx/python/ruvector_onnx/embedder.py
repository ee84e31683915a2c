"""Sentence embeddings: tokenize, run the transformer, masked mean pooling, L2 normalise.

The transformer runs as its fused graph where that applies (see ``fused_model``).

Inside one call texts are sorted by token count and cut into runs of at most
``batch_size``, each padded only to its own longest text (see ``chunking``). Results come
back in input order. ONNX Runtime sessions and tokenizers are safe to call from several
threads at once.
"""

from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from ruvector_core.errors import ModelError
from ruvector_core.models import EmbedderConfig
from ruvector_textmodel.chunking import plan_runs
from ruvector_textmodel.modelfiles import ModelFiles
from ruvector_textmodel.modelfiles.sources import cache_dir
from ruvector_textmodel.tokens import marker_count, padded_inputs, span_tokenizer, text_spans, tokenizer

from .fused_model import runnable_model
from .session import session

_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def load(files: ModelFiles, config: EmbedderConfig) -> tuple[Tokenizer, ort.InferenceSession]:
    """The tokenizer and the session over the model's fused graph (where it applies): what
    an embedder runs, and what the bench's bare session runs beside it."""
    model_tokenizer = tokenizer(files, config.max_length)
    model = runnable_model(files, cache_dir(config), model_tokenizer)
    return model_tokenizer, session(model, config.threads or os.cpu_count() or 1)


class OnnxEmbedder:
    def __init__(self, files: ModelFiles, config: EmbedderConfig) -> None:
        self.name = files.name
        self._batch_size = config.batch_size
        try:
            self._tokenizer, self._session = load(files, config)
        except Exception as exc:  # onnxruntime and tokenizers raise their own untyped errors
            raise ModelError(f"model {files.name!r} could not be loaded from {files.onnx}: {exc}") from exc
        self._inputs = [i.name for i in self._session.get_inputs()]
        unknown = set(self._inputs) - set(_INPUTS)
        if unknown:
            raise ModelError(
                f"model {files.name!r} wants inputs {sorted(unknown)}; a BERT-style encoder takes {_INPUTS}"
            )
        self._output = self._session.get_outputs()[0].name
        self._spans = span_tokenizer(files)
        #: the tokenizer truncates at ``max_length`` tokens, its markers included
        self.max_tokens = config.max_length - marker_count(self._tokenizer)
        if self.max_tokens < 1:
            raise ModelError(f"max_length {config.max_length} leaves no room for text beside the model's markers")
        self.dimensions = int(self.embed_batch([""]).shape[1])

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        if len(texts) == 1:
            return self._embed_one(texts[0])[None, :]
        encodings = self._tokenizer.encode_batch(texts)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        out: np.ndarray | None = None
        for chunk in plan_runs(lengths, self._batch_size):
            pooled = self._run([encodings[i].ids for i in chunk], int(lengths[chunk[-1]]))
            if out is None:
                out = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
            out[chunk] = pooled
        assert out is not None
        return out

    def token_spans(self, texts: list[str]) -> list[np.ndarray]:
        return text_spans(self._spans, texts)

    def close(self) -> None:
        self._session = None

    def _embed_one(self, text: str) -> np.ndarray:
        """One text needs no sorting, padding or mask, and its pooling is a plain sum.

        The general path's extra numpy calls matter here: right after a run, with ONNX
        Runtime's weights through the caches, each costs several microseconds; this path
        took about 50 us less per sentence, a third of what ruvector adds over a bare
        session call."""
        ids = np.array([self._tokenizer.encode(text).ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        outputs = self._session.run([self._output], {name: feeds[name] for name in self._inputs})
        summed: np.ndarray = outputs[0][0].sum(axis=0)
        return summed / max(float(np.sqrt(summed @ summed)), 1e-12)

    def _run(self, ids: list[list[int]], width: int) -> np.ndarray:
        feeds = padded_inputs(ids, width)
        hidden = self._session.run([self._output], {name: feeds[name] for name in self._inputs})[0]
        return _mean_pool_normalized(hidden, feeds["attention_mask"])


def _mean_pool_normalized(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Masked mean of the token vectors, scaled to unit length. The mean's division by the
    token count is left out: it scales a row by a positive constant, which the
    normalisation undoes. One batched product does the masked sum (about 4x faster than
    the elementwise form for a batch of 16, which matters for single-text latency)."""
    summed = np.matmul(mask.astype(np.float32)[:, None, :], hidden)[:, 0, :]
    norms = np.sqrt(np.einsum("ij,ij->i", summed, summed))[:, None]
    unit: np.ndarray = summed / np.maximum(norms, 1e-12)
    return unit
