"""The ONNX Runtime session an embedder runs, with the options measured to be fastest, and
the tokenizer and padded inputs that feed it (shared by the embedder and the bench's bare
session, so both run the same thing). The model file it is given is normally the fused one
(see ``fused_model``).

One departure from ORT's defaults: its ``SkipLayerNormFusion`` is disabled. It replaces
each residual Add + LayerNorm with one fused kernel whose CPU version is much the slower
here: with all-MiniLM-L6-v2 on 32 short sentences padded to 22 tokens (one thread), 1.65 ms
per call on the 704 x 384 tensor, against 0.18 ms for LayerNormalization plus 0.25 ms for
the Add; 20 ms of a 162 ms run went to it.

Flushing denormals to zero (``session.set_denormal_as_zero``) was measured too and left
off: it saved nothing once runs carry little padding, and ORT sets the flag on the thread
that creates the session, which changes floating-point results for all of the caller's
later numpy work.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from .modelfiles import ModelFiles

DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)


def session(model: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(
        str(model),
        options,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=list(DISABLED_OPTIMIZERS),
    )


def tokenizer(files: ModelFiles, max_length: int) -> Tokenizer:
    """The model's tokenizer, truncating at ``max_length`` and not padding (runs are padded
    by ``padded_inputs`` to their own longest text)."""
    made = Tokenizer.from_str(files.tokenizer_json)
    made.enable_truncation(max_length)
    made.no_padding()
    return made


def span_tokenizer(files: ModelFiles) -> Tokenizer:
    """The model's tokenizer with no length limit and no padding: it tells where every
    token of a text is, for callers that cut long texts into windows."""
    made = Tokenizer.from_str(files.tokenizer_json)
    made.no_truncation()
    made.no_padding()
    return made


def marker_count(made: Tokenizer) -> int:
    """How many marker tokens ([CLS], [SEP], ...) the tokenizer adds to one text."""
    processor = made.post_processor
    return int(processor.num_special_tokens_to_add(False)) if processor is not None else 0


def padded_inputs(ids: list[list[int]], width: int) -> dict[str, np.ndarray]:
    """``input_ids``, ``attention_mask`` and ``token_type_ids`` for token lists padded to
    ``width``."""
    input_ids = np.zeros((len(ids), width), dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for row, tokens in enumerate(ids):
        input_ids[row, : len(tokens)] = tokens
        mask[row, : len(tokens)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
