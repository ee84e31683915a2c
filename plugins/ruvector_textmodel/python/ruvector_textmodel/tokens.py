"""The model's tokenizer as every embedding backend runs it, and the padded inputs a
padded-batch runtime (ONNX Runtime) takes."""

from __future__ import annotations

import numpy as np
from tokenizers import Tokenizer

from .modelfiles import ModelFiles


def tokenizer(files: ModelFiles, max_length: int) -> Tokenizer:
    """The model's tokenizer, truncating at ``max_length`` and not padding (runs are padded
    by ``padded_inputs`` to their own longest text, or packed)."""
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


def text_spans(spans: Tokenizer, texts: list[str]) -> list[np.ndarray]:
    """``protocols.TokenWindow.token_spans`` for a ``span_tokenizer``."""
    encodings = spans.encode_batch(texts, add_special_tokens=False)
    return [np.array(e.offsets, dtype=np.int64).reshape(-1, 2) for e in encodings]


def padded_inputs(ids: list[list[int]], width: int) -> dict[str, np.ndarray]:
    """``input_ids``, ``attention_mask`` and ``token_type_ids`` for token lists padded to
    ``width``."""
    input_ids = np.zeros((len(ids), width), dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for row, tokens in enumerate(ids):
        input_ids[row, : len(tokens)] = tokens
        mask[row, : len(tokens)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
