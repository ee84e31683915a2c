"""Text files to passages to memory items: what ``ruvector index`` does.

Each paragraph of a text file becomes an item in the ``files`` namespace with id
``<path>#<paragraph>`` and metadata ``source`` (the path: the indexed folder resolved, then
the file's path within it, so a symbolic link is known by its own name), ``paragraph``
(from 0), ``mtime`` and ``sha256`` (the file's digest, which tells an unchanged file on the
next run), so everything the memory offers (filters, keywords, hybrid) applies to indexed
files.

Walking a folder: without recursion (any depth), in name order; a file or folder link whose
target lies outside the indexed folder is skipped unless ``follow_symlinks`` (links to
folders are followed only then, each target once). A name that is not UTF-8 is kept with
its undecodable bytes written as ``\\xNN``, so it can be stored and shown.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterable, Iterator
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


def index_files(memory: Memory, paths: Iterable[str | Path], *, follow_symlinks: bool = False) -> IndexReport:
    """Index every text file under ``paths`` in one durable save: new and changed files get
    their passages (re)embedded, unchanged ones are skipped, files gone from an indexed
    folder (a removed link too) are dropped."""
    started = time.perf_counter()
    files, folders = _collect(paths, follow_symlinks)
    indexed = memory.distinct("source", "sha256", namespace=FILES_NAMESPACE)
    known_sources = {source for source, _ in indexed}
    texts: list[str] = []
    ids: list[str] = []
    metadata: list[dict[str, Any]] = []
    changed: list[str] = []
    unchanged = 0
    for path, source in files:
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if (source, digest) in indexed:
            unchanged += 1
            continue
        changed.append(source)
        mtime = path.stat().st_mtime
        for paragraph, text in enumerate(split_passages(data.decode("utf-8", errors="replace"))):
            texts.append(text)
            ids.append(f"{source}#{paragraph}")
            metadata.append({"source": source, "paragraph": paragraph, "mtime": mtime, "sha256": digest})
    present = {source for _, source in files}
    gone = [s for s in known_sources if s not in present and any(_within(s, f) for f in folders)]
    removed = 0
    with memory.writing():
        for source in [*changed, *gone]:
            if source in known_sources:
                removed += memory.delete(where={"source": source}, namespace=FILES_NAMESPACE)
        memory.add(texts, metadata=metadata, ids=ids, namespace=FILES_NAMESPACE)
    return IndexReport(len(changed), unchanged, len(gone), len(texts), removed, time.perf_counter() - started)


def _collect(paths: Iterable[str | Path], follow_symlinks: bool) -> tuple[list[tuple[Path, str]], list[str]]:
    """(file, source) pairs to index, sorted by source, and the sources of the folders."""
    files: list[tuple[Path, str]] = []
    folders: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            root = path.resolve()
            folders.append(_shown(root))
            files.extend((p, _shown(root / p.relative_to(path))) for p in _walk(path, root, follow_symlinks))
        elif path.is_file():
            files.append((path, _shown(path.parent.resolve() / path.name)))
        else:
            raise InvalidInputError(f"{_shown(path)} is neither a file nor a folder")
    return sorted(files, key=lambda pair: pair[1]), folders


def _walk(top: Path, root: Path, follow_symlinks: bool) -> Iterator[Path]:
    """The text files under ``top`` (whose resolved path is ``root``), with an explicit
    stack: ``Path.rglob`` recurses and fails on folders about 1,000 levels deep."""
    stack = [top]
    seen = {root}
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:  # unreadable, or gone since it was listed: nothing in it to index
            continue
        for entry in entries:
            path = Path(entry.path)
            if entry.is_symlink():
                target = path.resolve()
                if not (follow_symlinks or target.is_relative_to(root)):
                    continue  # a link out of the indexed folder
                if target.is_dir():
                    if follow_symlinks and target not in seen:
                        seen.add(target)
                        stack.append(path)
                elif target.is_file() and path.suffix.lower() in TEXT_SUFFIXES:
                    yield path
            elif entry.is_dir(follow_symlinks=False):
                stack.append(path)
            elif entry.is_file(follow_symlinks=False) and path.suffix.lower() in TEXT_SUFFIXES:
                yield path


def _shown(path: Path) -> str:
    """``path`` as text that SQLite and a terminal accept: a name's bytes that are not UTF-8
    (which Python carries as surrogates) are written as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _within(source: str, folder: str) -> bool:
    return source.startswith(folder.rstrip(os.sep) + os.sep)
