"""Small wording and trimming rules the commands share, so every table and line reads alike."""

from __future__ import annotations

#: characters of a hit's text the query table shows (``--json`` has the whole text)
PREVIEW_CHARS = 300
#: characters of the query the table's title shows
TITLE_CHARS = 80


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 file``, ``2 files``, ``0 files``."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


def shorten(text: str, limit: int) -> str:
    """``text`` with its whitespace collapsed, cut at a word to at most ``limit``
    characters with an ellipsis and how much was left out."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    head = flat[:limit]
    space = head.rfind(" ")
    cut = head[:space] if space >= limit // 2 else head
    return f"{cut} … (+{len(flat) - len(cut):,} chars)"
