"""Text files to passages to memory items: what ``ruvector index`` does.

Which files: ``walk`` (files named, and in folders those with a text suffix; symbolic
links followed once, loops reported, links out of the folder only when asked). Which of
them are text: ``sniff`` decides by content, so binary files and undecodable text are
skipped with the reason. Each text's passages (``passages``: paragraphs, long ones cut
into windows the model reads whole) become items in the ``files`` namespace with id
``<path>#<passage>`` and metadata ``source`` (the resolved path, bytes of a name that are
not UTF-8 written as ``\\xNN``), ``root`` (the folder or file given that reached it: a file
it no longer reaches, say through a removed link, is dropped on the next run of that
folder), ``passage`` (from 1, as in the id), ``paragraph`` (from 1), ``mtime``, ``sha256``
(the file's digest, which tells an unchanged file on the next run) and ``split`` (how it
was cut: a file cut another way, by an older version or for another window, is indexed
again), so everything the memory offers (filters, keywords, hybrid) applies to indexed
files.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .memory import Memory
from .passages import split_passages
from .sniff import NotText, sniff
from .walk import shown, walk

FILES_NAMESPACE = "files"
#: names how files are cut into passages; part of an item's ``split`` metadata
SPLIT_VERSION = "windows-1"


@dataclass(frozen=True)
class Skipped:
    """A file or link not indexed: its path, the kind of reason (for the summary's counts)
    and the detail (for ``--verbose``)."""

    path: Path
    reason: str
    detail: str


@dataclass(frozen=True)
class IndexReport:
    files_indexed: int
    files_unchanged: int
    files_removed: int
    passages_added: int
    passages_removed: int
    seconds: float
    skipped: list[Skipped] = field(default_factory=list)

    def skipped_counts(self) -> dict[str, int]:
        """How many were skipped per kind of reason, most first."""
        return dict(Counter(s.reason for s in self.skipped).most_common())


def index_files(memory: Memory, paths: Iterable[str | Path], *, follow_symlinks: bool = False) -> IndexReport:
    """Index every text file under ``paths`` in one durable save: new and changed files get
    their passages (re)embedded, unchanged ones are skipped, files gone from an indexed
    folder (or no longer text) are dropped; what was not indexed is in the report."""
    started = time.perf_counter()
    found = walk(paths, follow_symlinks)
    embedder = memory.embedder
    split = f"{SPLIT_VERSION}/{embedder.max_tokens or 'paragraphs'}"
    stored = memory.distinct("source", "sha256", "split", "root", namespace=FILES_NAMESPACE)
    indexed = {(source, digest, how) for source, digest, how, _ in stored}
    known_sources = {source for source, _, _, _ in stored}
    walked_roots = {shown(root) for root in found.roots.values()} | {shown(folder) for folder in found.folders}
    skipped = [Skipped(path, "link not followed", why) for path, why in found.links]
    skipped += [Skipped(path, "unreadable", why) for path, why in found.unreadable]
    skipped += [Skipped(path, "not a text type", f"suffix {path.suffix or '(none)'}") for path in found.other_types]
    texts: list[str] = []
    ids: list[str] = []
    metadata: list[dict[str, Any]] = []
    changed: list[str] = []
    present: set[str] = set()
    unchanged = 0
    for path in found.files:
        source = shown(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            skipped.append(Skipped(path, "unreadable", exc.strerror or str(exc)))
            continue
        content = sniff(data)
        if isinstance(content, NotText):
            skipped.append(Skipped(path, content.reason, content.detail))
            continue
        present.add(source)
        digest = hashlib.sha256(data).hexdigest()
        if (source, digest, split) in indexed:
            unchanged += 1
            continue
        changed.append(source)
        mtime = path.stat().st_mtime
        for number, passage in enumerate(split_passages(content.text, embedder.token_spans, embedder.max_tokens), 1):
            texts.append(passage.text)
            ids.append(f"{source}#{number}")
            metadata.append(
                {
                    "source": source,
                    "passage": number,
                    "paragraph": passage.paragraph,
                    "mtime": mtime,
                    "sha256": digest,
                    "split": split,
                    "root": shown(found.roots[path]),
                }
            )
    vanished = {
        source
        for source, _, _, root in stored
        if source not in present
        and (root in walked_roots or any(Path(source).is_relative_to(f) for f in found.folders))
    }
    gone = vanished | (known_sources & {shown(s.path) for s in skipped})
    removed = 0
    with memory.writing():
        for source in [*changed, *sorted(gone)]:
            if source in known_sources:
                removed += memory.delete(where={"source": source}, namespace=FILES_NAMESPACE)
        memory.add(texts, metadata=metadata, ids=ids, namespace=FILES_NAMESPACE)
    return IndexReport(len(changed), unchanged, len(gone), len(texts), removed, time.perf_counter() - started, skipped)
