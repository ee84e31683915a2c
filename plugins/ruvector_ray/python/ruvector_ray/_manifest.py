"""The manifest of a saved sharded index: which file holds which shard, and how to check it.

A save writes every shard's file first (each in the one index format of docs/format.md,
atomically, under a name carrying the save's generation) and the manifest last, also
atomically. A crash before the manifest is replaced leaves the previous manifest naming the
previous generation's files, which are removed only after the new manifest is in place, so
a folder always holds one complete, checkable save.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from ruvector_core.atomic import write_atomically
from ruvector_core.errors import CorruptIndexError
from ruvector_core.models import HnswConfig

MANIFEST = "manifest.json"


class ShardFile(BaseModel):
    """One shard's saved file: enough to refuse a missing, truncated or altered one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str = Field(pattern=r"^shard-\d{4}\.g\d+\.hnsw$")
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    count: int = Field(ge=0, description="live vectors in the shard when it was saved")
    backend: str = Field(description="the backend that wrote it (any backend loads it)")


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["ruvector-sharded-index"] = "ruvector-sharded-index"
    version: Literal[1] = 1
    routing: Literal["blake2b-64-mod"] = "blake2b-64-mod"  # _routing.ROUTING: rows were placed by this rule
    generation: int = Field(ge=1)
    config: HnswConfig
    shards: list[ShardFile] = Field(min_length=1)

    @property
    def count(self) -> int:
        return sum(s.count for s in self.shards)


def shard_file_name(shard: int, generation: int) -> str:
    return f"shard-{shard:04d}.g{generation}.hnsw"


def read_manifest(folder: Path) -> Manifest | None:
    """The folder's manifest; None when it holds none; ``CorruptIndexError`` when unreadable."""
    path = folder / MANIFEST
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CorruptIndexError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return Manifest.model_validate(json.loads(text))
    except (ValueError, pydantic.ValidationError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CorruptIndexError(f"{path} is not a sharded-index manifest: {_first_line(exc)}") from None


def write_manifest(folder: Path, manifest: Manifest) -> None:
    write_atomically(folder / MANIFEST, manifest.model_dump_json(indent=2).encode("utf-8"))


def read_shard_file(folder: Path, entry: ShardFile) -> bytes:
    """The bytes of one shard's file, refused unless they are exactly what the manifest names."""
    path = folder / entry.file
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CorruptIndexError(f"{path} named by the manifest is missing") from None
    except OSError as exc:
        raise CorruptIndexError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) != entry.bytes:
        raise CorruptIndexError(f"{path} is {len(data)} bytes, the manifest says {entry.bytes}: truncated or replaced")
    if hashlib.sha256(data).hexdigest() != entry.sha256:
        raise CorruptIndexError(f"{path} does not match its sha256 in the manifest: the file is damaged")
    return data


def check_sizes(folder: Path, manifest: Manifest) -> None:
    """Refuse, before any actor starts, a save whose files are missing or of the wrong size
    (a stat each; the shards check every byte against its sha256 when they read them)."""
    for entry in manifest.shards:
        path = folder / entry.file
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise CorruptIndexError(f"{path} named by the manifest is missing") from None
        if size != entry.bytes:
            raise CorruptIndexError(f"{path} is {size} bytes, the manifest says {entry.bytes}: truncated or replaced")


def remove_other_generations(folder: Path, keep: Manifest) -> None:
    """Delete shard files of earlier (or abandoned) saves once ``keep`` is the manifest."""
    kept = {s.file for s in keep.shards}
    for path in folder.glob("shard-*.g*.hnsw"):
        if path.name not in kept:
            path.unlink(missing_ok=True)


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
