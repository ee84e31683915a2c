"""The MCP tools' arguments and results, as types the SDK turns into JSON schemas.

A tool's caller is a language model, so the schema is the first line of defence and the
documentation the model reads: arguments are as narrow as the tools need (a bounded ``k``,
a bounded text, a namespace that looks like a name). What the memory itself checks (filter
operators, ids, metadata that is not JSON) stays the memory's job, and its errors come
back as tool errors.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ..memory import MemoryHit
from ..models import IndexStats

#: the most hits one recall returns: an agent reads them all into its context
MAX_K = 100
#: the longest text one item may have (the embedder reads its first 256 tokens anyway)
MAX_TEXT = 16_384
#: the most ids one forget names
MAX_IDS = 1_000
#: the longest metadata object or filter, written as JSON
MAX_JSON = 65_536


def _bounded_json(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Refuse a metadata object or filter too large to be a memory's label."""
    if value is None:
        return None
    try:
        size = len(json.dumps(value))
    except RecursionError:
        raise ValueError("the object is nested too deeply") from None
    if size > MAX_JSON:
        raise ValueError(f"the object has {size} characters as JSON; at most {MAX_JSON}")
    return value


Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT, description="the text to remember")]
Query = Annotated[str, Field(min_length=1, max_length=MAX_TEXT, description="what to look for, in words")]
Namespace = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$",
        description="a namespace: a name of up to 64 letters, digits and _ . : @ - (no paths, no spaces)",
    ),
]
Metadata = Annotated[
    dict[str, Any] | None,
    AfterValidator(_bounded_json),
    Field(description='a JSON object stored with the item, e.g. {"user": "ana", "year": 2025}'),
]
Where = Annotated[
    dict[str, Any] | None,
    AfterValidator(_bounded_json),
    Field(
        description='a metadata filter: {"user": "ana"}, {"year": {"$gte": 2024}}; operators '
        "$eq $ne $gt $gte $lt $lte $in $nin $exists $and $or $not"
    ),
]
ItemId = Annotated[str, Field(min_length=1, max_length=256)]


class Remembered(BaseModel):
    """What ``remember`` stored: the new item's id and its namespace."""

    model_config = ConfigDict(frozen=True)

    id: str
    namespace: str


class Recalled(BaseModel):
    """What ``recall`` found, best first. ``score`` is higher for better matches: cosine
    similarity (vector), negated BM25 (keyword) or the fused rank score (hybrid)."""

    model_config = ConfigDict(frozen=True)

    hits: list[MemoryHit]


class Forgotten(BaseModel):
    """How many items ``forget`` removed."""

    model_config = ConfigDict(frozen=True)

    removed: int


class FeedbackRecorded(BaseModel):
    """The feedback event ``feedback`` recorded: its sequence number, for the item it names."""

    model_config = ConfigDict(frozen=True)

    seq: int
    id: str
    namespace: str


class Stats(BaseModel):
    """What the memory holds and what serves it."""

    model_config = ConfigDict(frozen=True)

    items: int
    namespaces: dict[str, int] = Field(description="items per namespace")
    model: str = Field(description="the embedding model")
    served_by: dict[str, str] = Field(description="the backend serving each capability")
    index: IndexStats
    read_only: bool = Field(description="true when remember, forget and feedback are not offered")
