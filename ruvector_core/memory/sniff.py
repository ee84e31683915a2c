"""Is this file text, and which text: what ``ruvector index`` reads, decided by content.

A file's name says nothing reliable (a PNG renamed ``.md`` is still a PNG), so its bytes
decide, in this order:

1. A byte-order mark names the encoding: UTF-8, UTF-16 or UTF-32 (either byte order). The
   file must then decode strictly in that encoding.
2. A known magic number (PNG, JPEG, GIF, PDF, ZIP and the formats built on it, gzip, bzip2,
   xz, zstd, 7z, ELF, SQLite, ...) marks a binary file.
3. A NUL byte marks a binary file (no text encoding without a BOM puts one in text).
4. Otherwise the bytes must be strict UTF-8.
5. Decoded text in which more than ``CONTROL_SHARE`` of the characters are control
   characters (tab, line breaks, form feed and escape excepted) is binary that happened
   to decode.

Other encodings (Latin-1, cp1252, Shift-JIS, ...) are not guessed: every byte sequence is
valid Latin-1, so a guess can turn any binary file or a mis-detected encoding into
passages of mojibake that then rank in searches. Such a file is skipped with a note; the
fix is to convert it to UTF-8 (``iconv -f cp1252 -t utf-8``). The same reasoning keeps out
statistical detectors such as charset-normalizer, and libmagic (python-magic) would add a
system library for the dozen signatures below.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Literal

#: above this share of control characters, decoded text is taken for binary
CONTROL_SHARE = 0.02
#: control characters other than those text legitimately holds (tab, newline, vertical
#: tab, form feed, carriage return, and escape for colour codes in logs), C1 included
_CONTROL = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f-\x9f]")

SkipReason = Literal["binary", "undecodable", "empty"]

# Longest BOM first: UTF-32-LE's BOM begins with UTF-16-LE's.
_BOMS: tuple[tuple[bytes, str, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or a format built on it: docx, xlsx, jar, ...)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"BZh", "bzip2-compressed data"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7z archive"),
    (b"\x7fELF", "an ELF executable"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\xca\xfe\xba\xbe", "a Java class or Mach-O universal binary"),
    (b"OggS", "Ogg media"),
    (b"fLaC", "FLAC audio"),
    (b"ID3", "an MP3 file"),
    (b"\x00asm", "a WebAssembly module"),
)


@dataclass(frozen=True)
class Text:
    """A file that is text: its content and the encoding it was read in."""

    text: str
    encoding: str


@dataclass(frozen=True)
class NotText:
    """Why a file is not indexed: the kind of reason (for the summary) and the detail."""

    reason: SkipReason
    detail: str


def sniff(data: bytes) -> Text | NotText:
    """``data`` decoded as text, or why it is not text (see the module's rules)."""
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            try:
                return _checked(data[len(bom) :].decode(codec), f"{label} with BOM")
            except UnicodeDecodeError as exc:
                return NotText("undecodable", f"starts with a {label} byte-order mark but is not valid {label}: {exc}")
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return NotText("binary", f"{kind} (by its first bytes)")
    nul = data.find(b"\x00")
    if nul >= 0:
        return NotText("binary", f"contains NUL bytes (first at byte {nul})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return NotText(
            "undecodable",
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "other encodings are not guessed: convert it to UTF-8",
        )
    return _checked(text, "UTF-8")


def _checked(text: str, encoding: str) -> Text | NotText:
    if not text.strip():
        return NotText("empty", "holds no text")
    controls = len(_CONTROL.findall(text))
    if controls > CONTROL_SHARE * len(text):
        return NotText("binary", f"{controls / len(text):.0%} of its characters are control characters")
    return Text(text, encoding)
