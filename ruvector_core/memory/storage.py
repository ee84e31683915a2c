"""Where a memory lives: items in SQLite, their vectors' graph in an HNSW index file.

Consistency across the two files comes from generations. A write saves the index as a new
file ``index-<n>.hnsw`` (written, fsynced, renamed) while its SQLite transaction is still
open; that transaction then sets the current generation to ``n`` and commits. A process
killed at any point leaves SQLite naming a complete index file that matches its items:
the previous one or the new one. Writers hold a file lock, so two processes never
interleave their changes; readers take no lock. Before every read, a reader compares the
stored generation with the one it holds (one indexed SELECT) and loads the newer index
only when another process committed since, so it always sees what was committed before
the read began.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from filelock import FileLock

from ..atomic import write_atomically
from ..errors import CorruptIndexError, RuvectorError
from ..hnsw_index import HnswIndex
from ..models import HnswConfig
from ..runtime import Runtime
from .schema import SCHEMA, SCHEMA_VERSION

DB_NAME = "store.sqlite3"
LOCK_NAME = ".writer.lock"
#: Rebuild the index once deleted entries (kept in the graph as waypoints) outnumber live
#: ones by this factor and this many: replacing items would otherwise grow the graph
#: without bound.
COMPACT_RATIO = 1.0
COMPACT_MIN_DELETED = 1_000
#: A reader whose snapshot names an index file that a writer has since replaced starts its
#: read again on the newer generation, up to this many times.
READ_ATTEMPTS = 8


class StoreError(RuvectorError):
    """The store folder is missing, damaged, or was built with another model."""


class _Replaced(Exception):
    """The snapshot's index file is gone: a writer committed a newer generation since."""


class Storage:
    """The SQLite connection and the current index of one store folder."""

    def __init__(self, folder: Path, runtime: Runtime, db: sqlite3.Connection, config: HnswConfig) -> None:
        self.folder = folder
        self.runtime = runtime
        self.db = db
        self.config = config
        self.generation = -1  # nothing loaded yet: the first refresh loads the stored one
        self.index: HnswIndex = runtime.hnsw(config)
        self._writing = False

    @classmethod
    def open(
        cls,
        folder: str | Path,
        *,
        model: str,
        dimensions: int,
        runtime: Runtime,
        hnsw: HnswConfig | None = None,
        create: bool = True,
    ) -> Storage:
        """Open the store in ``folder``, creating it if needed and ``create``; an existing
        store must have been built with the same model."""
        folder = Path(folder)
        if not create:
            cls.require_existing(folder)
        folder.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(folder / DB_NAME, isolation_level=None, check_same_thread=False)
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'passages'").fetchone():
            db.close()
            raise StoreError(
                f"store {folder} was written by an earlier ruvector (passages, schema 1); "
                "index its files again into a new folder with `ruvector index PATH --db NEW`"
            )
        db.executescript(SCHEMA)
        initial = hnsw or HnswConfig(dimensions=dimensions)
        db.executemany(  # a no-op for an existing store; concurrent creators agree on one
            "INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)",
            [
                ("schema", SCHEMA_VERSION),
                ("model", model),
                ("dimensions", str(dimensions)),
                ("generation", "0"),
                ("hnsw", initial.model_dump_json()),
            ],
        )
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        if meta["schema"] != SCHEMA_VERSION:
            db.close()
            raise StoreError(f"store {folder} has schema {meta['schema']}, this version reads {SCHEMA_VERSION}")
        if meta["model"] != model or int(meta["dimensions"]) != dimensions:
            db.close()
            raise StoreError(
                f"store {folder} was built with model {meta['model']!r} ({meta['dimensions']} dimensions), "
                f"not {model!r}; use that model or another folder"
            )
        storage = cls(folder, runtime, db, HnswConfig.model_validate_json(meta["hnsw"]))
        with storage.reading():
            pass
        return storage

    @staticmethod
    def require_existing(folder: Path) -> None:
        if not (folder / DB_NAME).is_file():
            raise StoreError(f"no store in {folder}: add items with `ruvector add` or `ruvector index` first")

    @staticmethod
    def stored_model(folder: str | Path) -> str | None:
        """The model an existing store was built with, or None where there is no store."""
        path = Path(folder) / DB_NAME
        if not path.is_file():
            return None
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'model'").fetchone()
        finally:
            db.close()
        return str(row[0]) if row else None

    def close(self) -> None:
        self.db.close()

    def refresh(self) -> None:
        """Catch up with what other processes committed since this one last looked."""
        (stored,) = self.db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        if int(stored) != self.generation:
            self.index = self._load_index(int(stored))
            self.generation = int(stored)

    @contextmanager
    def reading(self) -> Iterator[None]:
        """One consistent view: the index and the rows of the same committed generation."""
        if self._writing:
            yield
            return
        for _ in range(READ_ATTEMPTS):
            self.db.execute("BEGIN")
            try:
                self.refresh()
            except _Replaced:
                self.db.execute("COMMIT")
                continue
            try:
                yield
            finally:
                self.db.execute("COMMIT")
            return
        raise StoreError(f"store {self.folder}: its index file keeps disappearing; is another program deleting it?")

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Group changes into one durable save; on any exception nothing is kept. Nested
        blocks join the outermost one."""
        if self._writing:
            yield
            return
        with FileLock(str(self.folder / LOCK_NAME)):
            self.db.execute("BEGIN IMMEDIATE")
            self._writing = True
            try:
                self._refresh_holding_lock()
                before = self.db.total_changes
                yield
                changed = self.db.total_changes != before
                if changed:
                    self._compact_if_worthwhile()
                    write_atomically(self.folder / _index_name(self.generation + 1), self.index.serialize())
                    self.db.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (str(self.generation + 1),))
                self.db.execute("COMMIT")
                if changed:
                    self.generation += 1
                    self._remove_stale_files()
            except BaseException:
                self.db.execute("ROLLBACK")
                # the in-memory index had the block's changes: go back to the committed file
                self.index = self._load_index(self.generation)
                raise
            finally:
                self._writing = False

    @contextmanager
    def recording(self) -> Iterator[None]:
        """A durable change to SQLite alone (feedback, adapters, patterns), under the same
        writer lock: it never touches the index, so no index file is written for it."""
        if self._writing:
            yield
            return
        with FileLock(str(self.folder / LOCK_NAME)):
            self.db.execute("BEGIN IMMEDIATE")
            self._writing = True
            try:
                yield
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            finally:
                self._writing = False

    def _refresh_holding_lock(self) -> None:
        """``refresh`` where nobody can replace the file: a missing one is damage."""
        try:
            self.refresh()
        except _Replaced:
            missing = _index_name(self.generation)
            raise StoreError(f"store {self.folder}: {missing} is missing; the store is damaged") from None

    def _compact_if_worthwhile(self) -> None:
        """Replace the index by a fresh build from the live items' stored vectors."""
        stats = self.index.stats()
        if stats.deleted < max(COMPACT_MIN_DELETED, COMPACT_RATIO * stats.count):
            return
        rows = self.db.execute("SELECT rowid, vector FROM items ORDER BY rowid").fetchall()
        fresh = self.runtime.hnsw(self.config)
        if rows:
            vectors = np.frombuffer(b"".join(v for _, v in rows), dtype="<f4").reshape(len(rows), -1)
            fresh.insert_batch([str(r) for r, _ in rows], vectors)
        self.index = fresh

    def _remove_stale_files(self) -> None:
        """Delete older index files, keeping the previous one for readers still on it."""
        keep = {_index_name(self.generation), _index_name(self.generation - 1)}
        for path in self.folder.glob("index-*.hnsw*"):
            if path.name not in keep:
                path.unlink(missing_ok=True)

    def _load_index(self, generation: int) -> HnswIndex:
        if generation == 0:
            return self.runtime.hnsw(self.config)
        path = self.folder / _index_name(generation)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise _Replaced from None
        try:
            return self.runtime.hnsw_load(data)
        except CorruptIndexError as exc:
            raise StoreError(f"store {self.folder}: {path.name} is damaged ({exc})") from exc


def _index_name(generation: int) -> str:
    return f"index-{generation}.hnsw"
