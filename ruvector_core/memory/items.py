"""What the memory hands back: stored items and search hits."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

SearchMode = Literal["vector", "keyword", "hybrid"]
SEARCH_MODES: tuple[SearchMode, ...] = ("vector", "keyword", "hybrid")
DEFAULT_NAMESPACE = "default"


class MemoryItem(BaseModel):
    """One stored item: its text, its metadata (a JSON object) and the namespace it is in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    text: str
    metadata: dict[str, Any]
    namespace: str


class MemoryHit(MemoryItem):
    """An item found by ``Memory.search``. ``score`` is higher for better matches: cosine
    similarity in ``vector`` mode, the negated BM25 rank score in ``keyword`` mode, and the
    reciprocal-rank-fusion score in ``hybrid`` mode."""

    score: float
