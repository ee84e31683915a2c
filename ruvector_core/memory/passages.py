"""Text to passages the model reads whole: paragraphs, and windows of the longer ones.

An embedding model reads a fixed number of tokens (all-MiniLM-L6-v2: 256, two of them its
own markers) and silently drops the rest, so a long paragraph stored as one passage is
embedded from its first few hundred words only and the rest cannot be found by meaning.
Here every paragraph (text between blank lines, whitespace collapsed) that fits the
model's window stays one passage; a longer one is cut into windows of at most the
model's window, counted with the model's own tokenizer, each overlapping the previous one
by ``OVERLAP_TOKENS`` so that a sentence on a cut is whole in one of them. A window ends,
by preference, after a sentence (``.``, ``!`` or ``?`` then a space) in its last quarter,
else between two words, and starts at a word. Passages never span two paragraphs: a
paragraph is the unit a hit shows, and short paragraphs keep their own embeddings.

A token covering very many characters (a word of hundreds of letters, which the tokenizer
reads as one unknown token) could make a passage of a few tokens megabytes long, so a
window also ends before ``MAX_CHARS_PER_TOKEN`` characters per token of the window.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

#: tokens each window shares with the previous one of the same paragraph
OVERLAP_TOKENS = 32
#: a window holds at most this many characters per token of the model's window
MAX_CHARS_PER_TOKEN = 16
_BLANK_LINE = re.compile(r"\n\s*\n")
_SENTENCE_END = frozenset(".!?")

#: texts to their tokens' character spans: ``Embedder.token_spans``
TokenSpans = Callable[[Sequence[str]], list[np.ndarray]]


@dataclass(frozen=True)
class Passage:
    """One passage: its text and the paragraph it comes from (numbered from 1)."""

    text: str
    paragraph: int


def paragraphs(text: str) -> list[str]:
    """Paragraphs (separated by blank lines) with their whitespace collapsed."""
    return [" ".join(p.split()) for p in _BLANK_LINE.split(text) if p.strip()]


def split_passages(text: str, token_spans: TokenSpans, max_tokens: int | None) -> list[Passage]:
    """``text``'s passages in order: each paragraph, cut into overlapping windows of at
    most ``max_tokens`` tokens where it is longer (see the module's rules); with no
    ``max_tokens`` (an embedder that does not tell its window), each paragraph whole."""
    found = paragraphs(text)
    if max_tokens is None:
        return [Passage(paragraph, number) for number, paragraph in enumerate(found, start=1)]
    passages: list[Passage] = []
    for number, (paragraph, spans) in enumerate(zip(found, token_spans(found), strict=True), start=1):
        passages.extend(Passage(window, number) for window in windows(paragraph, spans, max_tokens))
    return passages


def windows(text: str, spans: np.ndarray, max_tokens: int, overlap: int = OVERLAP_TOKENS) -> list[str]:
    """``text`` (one paragraph whose tokens span ``spans``, shape (n, 2)) as windows of at
    most ``max_tokens`` tokens, consecutive ones sharing about ``overlap`` tokens."""
    count = len(spans)
    max_chars = MAX_CHARS_PER_TOKEN * max_tokens
    if count <= max_tokens and len(text) <= max_chars:
        return [text]
    overlap = min(overlap, max_tokens // 4)
    starts, ends = spans[:, 0], spans[:, 1]
    out: list[str] = []
    start = 0
    while start < count:
        first_char = int(starts[start])
        end = min(start + max_tokens, count)
        end = min(end, int(np.searchsorted(ends, first_char + max_chars, side="right")))
        if end <= start:  # one token longer than a window's characters: keep its beginning
            out.append(text[first_char : first_char + max_chars])
            start += 1
            continue
        if end < count:
            end = _cut(text, spans, start, end, max_tokens)
        out.append(text[first_char : int(ends[end - 1])])
        if end >= count:
            break
        start = _word_start(spans, max(end - overlap, start + 1), end)
    return out


def _cut(text: str, spans: np.ndarray, start: int, end: int, max_tokens: int) -> int:
    """Where a window from token ``start`` ending at the latest before ``end`` (exclusive)
    ends best: after a sentence in its last quarter, else before a word, else at ``end``."""
    earliest = max(start + 1, end - max(1, max_tokens // 4))
    for cut in range(end, earliest - 1, -1):
        before = int(spans[cut - 1, 1])
        if text[before - 1] in _SENTENCE_END and int(spans[cut, 0]) > before:
            return cut
    for cut in range(end, earliest - 1, -1):
        if int(spans[cut, 0]) > int(spans[cut - 1, 1]):  # a space between: a word starts
            return cut
    return end


def _word_start(spans: np.ndarray, token: int, limit: int) -> int:
    """The first token at or after ``token`` (and before ``limit``) that begins a word."""
    for candidate in range(token, limit):
        if candidate == 0 or int(spans[candidate, 0]) > int(spans[candidate - 1, 1]):
            return candidate
    return token
