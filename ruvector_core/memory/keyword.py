"""Keyword recall and its fusion with vector recall.

Keyword search is SQLite's FTS5 with BM25 ranking over the item texts. A free-text query
becomes an FTS5 query of its words joined by OR, each quoted, so punctuation and FTS5's own
operators in user text are plain words and never syntax. Hybrid recall fuses the vector and
keyword rankings by reciprocal rank fusion (Cormack, Clarke and Buettcher, 2009): an
item's score is the sum of ``1 / (RRF_K + rank)`` over the lists it appears in, which needs
no calibration between cosine similarities and BM25 scores.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

RRF_K = 60  # the constant of the original paper; it damps the weight of the very top ranks
_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression for ``text``: any of its words; None when it has none."""
    words = dict.fromkeys(word.lower() for word in _WORD.findall(text))
    return " OR ".join(f'"{word}"' for word in words) or None


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int) -> list[tuple[str, float]]:
    """The ``k`` best keys over ``rankings`` (each best first) by fused score, best first;
    ties keep the order in which keys were first seen."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(scores.items(), key=lambda item: -item[1])[:k]
