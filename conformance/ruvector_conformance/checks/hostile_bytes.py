"""Editing saved index bytes for the hostile-input checks, and holding a loader to refusing them."""

from __future__ import annotations

import struct
import zlib

import ruvector_core as rv


def with_checksum(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def patched(blob: bytes, offset: int, fmt: str, value: float) -> bytes:
    """Rewrite one field and fix the checksum, so only the loader's own checks can object."""
    body = bytearray(blob[:-4])
    struct.pack_into(fmt, body, offset, value)
    return with_checksum(bytes(body))


def not_refused(runtime: rv.Runtime, variants: dict[str, bytes]) -> list[str]:
    """Each variant the loader did not refuse with a CorruptIndexError, and what it did instead."""
    wrong = []
    for name, variant in variants.items():
        try:
            runtime.hnsw_load(variant)
        except rv.CorruptIndexError:
            continue
        except Exception as exc:  # the wrong error type is a failure too
            wrong.append(f"{name}: raised {type(exc).__name__}: {exc}")
        else:
            wrong.append(f"{name}: accepted")
    return wrong
