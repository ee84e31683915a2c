"""A persistent memory: passages and metadata in SQLite, their vectors in an HNSW index file.

Consistency across the two files comes from generations. The index is saved as a new file
``index-<n>.hnsw`` (written, fsynced, renamed) while the SQLite transaction that records
the passages is still open; that transaction then sets the current generation to ``n`` and
commits. A process killed at any point leaves SQLite naming a complete index file that
matches its passages: either the previous one or the new one. Writers hold a file lock, so
two processes never interleave their changes; readers need no lock.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock

from ..atomic import write_atomically
from ..errors import CorruptIndexError, InvalidInputError, RuvectorError
from ..hnsw_index import HnswIndex
from ..models import HnswConfig
from ..runtime import Runtime
from .schema import SCHEMA

DB_NAME = "store.sqlite3"
LOCK_NAME = ".writer.lock"
#: Rebuild the index once deleted entries (kept in the graph as waypoints) outnumber live
#: ones by this factor and this many: re-indexing changed files would otherwise grow the
#: graph without bound.
COMPACT_RATIO = 1.0
COMPACT_MIN_DELETED = 1_000


@dataclass(frozen=True)
class Passage:
    id: str
    source: str
    ordinal: int
    text: str


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float


class StoreError(RuvectorError):
    """The store folder is missing, damaged, or was built with another model."""


class MemoryStore:
    """Open with ``MemoryStore.open(folder, dimensions=..., model=...)``."""

    def __init__(self, folder: Path, runtime: Runtime, db: sqlite3.Connection, index: HnswIndex, generation: int):
        self.folder = folder
        self.runtime = runtime
        self._db = db
        self.index = index
        self.generation = generation

    @classmethod
    def open(
        cls,
        folder: str | Path,
        *,
        model: str | None = None,
        dimensions: int | None = None,
        runtime: Runtime | None = None,
        hnsw: HnswConfig | None = None,
    ) -> MemoryStore:
        """Open the store in ``folder``, creating it when ``model`` and ``dimensions`` are
        given; an existing store must have been built with that same model."""
        folder = Path(folder)
        creating = model is not None and dimensions is not None
        if not creating and not (folder / DB_NAME).exists():
            raise StoreError(f"no store in {folder}: build one first with `ruvector index PATH --db {folder}`")
        folder.mkdir(parents=True, exist_ok=True)
        runtime = runtime or Runtime.initialize()
        db = sqlite3.connect(folder / DB_NAME, isolation_level=None, check_same_thread=False)
        db.executescript(SCHEMA)
        if creating:
            initial = hnsw or HnswConfig(dimensions=dimensions)
            db.executemany(  # a no-op for an existing store; concurrent creators agree on one
                "INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)",
                [
                    ("model", model),
                    ("dimensions", str(dimensions)),
                    ("generation", "0"),
                    ("hnsw", initial.model_dump_json()),
                ],
            )
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        if creating and (meta["model"] != model or int(meta["dimensions"]) != dimensions):
            db.close()
            raise StoreError(
                f"store {folder} was built with model {meta['model']!r} ({meta['dimensions']} dimensions), "
                f"not {model!r}; use that model or a new --db folder"
            )
        generation = int(meta["generation"])
        index = cls._load_index(folder, runtime, generation, HnswConfig.model_validate_json(meta["hnsw"]))
        return cls(folder, runtime, db, index, generation)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def model(self) -> str:
        model: str = self._db.execute("SELECT value FROM meta WHERE key = 'model'").fetchone()[0]
        return model

    # -- reading ------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM passages").fetchone()[0])

    def source_digest(self, source: str) -> str | None:
        row = self._db.execute("SELECT sha256 FROM sources WHERE path = ?", (source,)).fetchone()
        return row[0] if row else None

    def sources_under(self, folders: Sequence[Path]) -> list[str]:
        """Indexed sources that lie inside any of ``folders``."""
        rows = self._db.execute("SELECT path FROM sources").fetchall()
        return [path for (path,) in rows if any(Path(path).is_relative_to(f) for f in folders)]

    def search(self, vector: np.ndarray, k: int = 5) -> list[Hit]:
        hits = self.index.search(vector, k=k)
        found = self.passages([h.id for h in hits])
        return [Hit(found[h.id], h.score) for h in hits if h.id in found]

    def passages(self, ids: Sequence[str]) -> dict[str, Passage]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(f"SELECT id, source, ordinal, text FROM passages WHERE id IN ({marks})", list(ids))
        return {row[0]: Passage(*row) for row in rows}

    # -- writing ------------------------------------------------------------------------

    @contextmanager
    def writing(self) -> Iterator[_Batch]:
        """Group changes into one durable save; on any exception nothing is kept."""
        with FileLock(str(self.folder / LOCK_NAME)):
            self._refresh()
            batch = _Batch(self)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield batch
                generation = self.generation + 1 if batch.changed else self.generation
                if batch.changed:
                    self._compact_if_worthwhile()
                    write_atomically(self.folder / _index_name(generation), self.index.serialize())
                    self._db.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (str(generation),))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                # the in-memory index had the block's changes: go back to the committed file
                self.index = self._load_index(self.folder, self.runtime, self.generation, self.index.config)
                raise
            self.generation = generation
            self._remove_stale_files()

    def _compact_if_worthwhile(self) -> None:
        """Replace the index by a fresh build from the live passages' stored vectors."""
        stats = self.index.stats()
        if stats.deleted < max(COMPACT_MIN_DELETED, COMPACT_RATIO * stats.count):
            return
        rows = self._db.execute("SELECT id, vector FROM passages ORDER BY rowid").fetchall()
        fresh = self.runtime.hnsw(self.index.config)
        if rows:
            vectors = np.frombuffer(b"".join(v for _, v in rows), dtype="<f4").reshape(len(rows), -1)
            fresh.insert_batch([i for i, _ in rows], vectors)
        self.index = fresh

    def _refresh(self) -> None:
        """Catch up with saves made by other processes since this one opened the store."""
        (stored,) = self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        if int(stored) != self.generation:
            self.index = self._load_index(self.folder, self.runtime, int(stored), self.index.config)
            self.generation = int(stored)

    def _remove_stale_files(self) -> None:
        current = _index_name(self.generation)
        for path in self.folder.glob("index-*.hnsw*"):
            if path.name != current:
                path.unlink(missing_ok=True)

    @staticmethod
    def _load_index(folder: Path, runtime: Runtime, generation: int, config: HnswConfig) -> HnswIndex:
        if generation == 0:
            return runtime.hnsw(config)
        path = folder / _index_name(generation)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise StoreError(f"store {folder}: {path.name} is missing; the store is damaged") from None
        try:
            return runtime.hnsw_load(data)
        except CorruptIndexError as exc:
            raise StoreError(f"store {folder}: {path.name} is damaged ({exc})") from exc


class _Batch:
    """The changes of one ``MemoryStore.writing()`` block."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.changed = False

    def replace_source(self, source: str, sha256: str, texts: Sequence[str], vectors: np.ndarray) -> int:
        """Make ``source``'s passages exactly ``texts`` (with their ``vectors``); returns how
        many passages it had before."""
        if len(texts) != len(vectors):
            raise InvalidInputError(f"{len(texts)} passages but {len(vectors)} vectors")
        removed = self.remove_source(source)
        ids = [f"{source}#{ordinal}" for ordinal in range(len(texts))]
        if ids:
            self._store.index.insert_batch(ids, vectors)
        db = self._store._db
        rows = np.ascontiguousarray(vectors, dtype="<f4")
        db.executemany(
            "INSERT INTO passages(id, source, ordinal, text, vector) VALUES (?, ?, ?, ?, ?)",
            [
                (i, source, ordinal, text, rows[ordinal].tobytes())
                for ordinal, (i, text) in enumerate(zip(ids, texts, strict=True))
            ],
        )
        db.execute("INSERT INTO sources(path, sha256, indexed_at) VALUES (?, ?, ?)", (source, sha256, time.time()))
        self.changed = True
        return removed

    def remove_source(self, source: str) -> int:
        db = self._store._db
        ids = [row[0] for row in db.execute("SELECT id FROM passages WHERE source = ?", (source,))]
        for id_ in ids:
            self._store.index.delete(id_)
        db.execute("DELETE FROM passages WHERE source = ?", (source,))
        removed = db.execute("DELETE FROM sources WHERE path = ?", (source,)).rowcount
        self.changed = self.changed or bool(ids) or bool(removed)
        return len(ids)


def _index_name(generation: int) -> str:
    return f"index-{generation}.hnsw"
