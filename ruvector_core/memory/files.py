"""Text files to passages to memory items: what ``ruvector index`` does.

Each paragraph of a text file becomes an item in the ``files`` namespace with id
``<path>#<paragraph>`` and metadata ``source`` (the resolved path), ``paragraph`` (from 0),
``mtime`` and ``sha256`` (the file's digest, which tells an unchanged file on the next run),
so everything the memory offers (filters, keywords, hybrid) applies to indexed files.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from .memory import Memory

FILES_NAMESPACE = "files"
TEXT_SUFFIXES = frozenset({".txt", ".md", ".rst", ".text"})
_BLANK_LINE = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class IndexReport:
    files_indexed: int
    files_unchanged: int
    files_removed: int
    passages_added: int
    passages_removed: int
    seconds: float


def split_passages(text: str) -> list[str]:
    """Paragraphs (separated by blank lines) with their whitespace collapsed."""
    return [" ".join(p.split()) for p in _BLANK_LINE.split(text) if p.strip()]


def index_files(memory: Memory, paths: Iterable[str | Path]) -> IndexReport:
    """Index every text file under ``paths`` in one durable save: new and changed files get
    their passages (re)embedded, unchanged ones are skipped, files gone from an indexed
    folder are dropped."""
    started = time.perf_counter()
    files, folders = _collect(paths)
    indexed = memory.distinct("source", "sha256", namespace=FILES_NAMESPACE)
    known_sources = {source for source, _ in indexed}
    texts: list[str] = []
    ids: list[str] = []
    metadata: list[dict[str, Any]] = []
    changed: list[str] = []
    unchanged = 0
    for path in files:
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        source = str(path.resolve())
        if (source, digest) in indexed:
            unchanged += 1
            continue
        changed.append(source)
        mtime = path.stat().st_mtime
        for paragraph, text in enumerate(split_passages(data.decode("utf-8", errors="replace"))):
            texts.append(text)
            ids.append(f"{source}#{paragraph}")
            metadata.append({"source": source, "paragraph": paragraph, "mtime": mtime, "sha256": digest})
    present = {str(p.resolve()) for p in files}
    gone = [s for s in known_sources if s not in present and any(Path(s).is_relative_to(f) for f in folders)]
    removed = 0
    with memory.writing():
        for source in [*changed, *gone]:
            if source in known_sources:
                removed += memory.delete(where={"source": source}, namespace=FILES_NAMESPACE)
        memory.add(texts, metadata=metadata, ids=ids, namespace=FILES_NAMESPACE)
    return IndexReport(len(changed), unchanged, len(gone), len(texts), removed, time.perf_counter() - started)


def _collect(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    files: list[Path] = []
    folders: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            folders.append(path.resolve())
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise InvalidInputError(f"{path} is neither a file nor a folder")
    return files, folders
