"""Text files to passages to the store: what ``ruvector index`` does."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.progress import Progress

from ..embedder import Embedder
from ..errors import InvalidInputError
from .memory_store import MemoryStore

TEXT_SUFFIXES = frozenset({".txt", ".md", ".rst", ".text"})
EMBED_CHUNK = 256
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


def index_files(
    store: MemoryStore, embedder: Embedder, paths: Iterable[str | Path], progress: bool = True
) -> IndexReport:
    """Index every text file under ``paths``: new and changed files get their passages
    (re)embedded, unchanged ones are skipped, files gone from an indexed folder are dropped."""
    started = time.perf_counter()
    files, folders = _collect(paths)
    changed: list[tuple[str, str, list[str]]] = []
    unchanged = 0
    for path in files:
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        source = str(path.resolve())
        if store.source_digest(source) == digest:
            unchanged += 1
            continue
        changed.append((source, digest, split_passages(data.decode("utf-8", errors="replace"))))
    texts = [t for _, _, passages in changed for t in passages]
    vectors = _embed_all(embedder, texts, progress)
    present = {str(p.resolve()) for p in files}
    added = removed = dropped = 0
    with store.writing() as batch:
        offset = 0
        for source, digest, passages in changed:
            removed += batch.replace_source(source, digest, passages, vectors[offset : offset + len(passages)])
            offset += len(passages)
            added += len(passages)
        for source in store.sources_under(folders):
            if source not in present:
                removed += batch.remove_source(source)
                dropped += 1
    return IndexReport(len(changed), unchanged, dropped, added, removed, time.perf_counter() - started)


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


def _embed_all(embedder: Embedder, texts: list[str], progress: bool) -> np.ndarray:
    out = np.empty((len(texts), embedder.dimensions), dtype=np.float32)
    with Progress(disable=not progress, transient=False) as bar:
        task = bar.add_task("embedding passages", total=len(texts))
        for start in range(0, len(texts), EMBED_CHUNK):
            chunk = texts[start : start + EMBED_CHUNK]
            out[start : start + len(chunk)] = embedder.embed_batch(chunk)
            bar.advance(task, len(chunk))
    return out
