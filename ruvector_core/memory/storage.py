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

Every item keeps its vector in SQLite, so the index is derived data: an index file that is
missing or fails its checks is rebuilt from the stored vectors and saved as the next
generation, under the writer lock like any save, with a ``StoreRepairedWarning``. A store
this process cannot write is rebuilt in memory only, for as long as it stays open.
"""

from __future__ import annotations

import re
import sqlite3
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pydantic
from filelock import FileLock

from ..atomic import write_atomically
from ..errors import CorruptIndexError
from ..hnsw_index import HnswIndex
from ..models import HnswConfig
from ..runtime import Runtime
from .database import DB_NAME, check_folder, connect, sqlite_failure
from .errors import (
    IndexDamagedError,
    StoreCorruptError,
    StoreError,
    StoreNotFoundError,
    StoreReadOnlyError,
    StoreRepairedWarning,
)
from .schema import SCHEMA, SCHEMA_VERSION

LOCK_NAME = ".writer.lock"
#: Rebuild the index once deleted entries (kept in the graph as waypoints) outnumber live
#: ones by this factor and this many: replacing items would otherwise grow the graph
#: without bound.
COMPACT_RATIO = 1.0
COMPACT_MIN_DELETED = 1_000
#: A reader whose snapshot names an index file that a writer has since replaced starts its
#: read again on the newer generation, up to this many times.
READ_ATTEMPTS = 8
#: vectors read from SQLite at a time when the index is rebuilt
REBUILD_CHUNK = 8192
_META_KEYS = ("schema", "model", "dimensions", "generation", "hnsw")
#: the tables, indexes and triggers the schema creates when absent
_SCHEMA_OBJECTS = frozenset(re.findall(r"IF NOT EXISTS (\w+)", SCHEMA))


class _Replaced(Exception):
    """The snapshot's index file is gone: a writer committed a newer generation since."""

    def __init__(self, generation: int) -> None:
        self.generation = generation


class _Damaged(Exception):
    """The index file of the snapshot's generation is missing for good or fails its checks."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class Storage:
    """The SQLite connection and the current index of one store folder."""

    def __init__(
        self,
        folder: Path,
        runtime: Runtime,
        db: sqlite3.Connection,
        config: HnswConfig,
        *,
        model: str,
        read_only: bool = False,
        heal: bool = True,
    ) -> None:
        self.folder = folder
        self.runtime = runtime
        self.db = db
        self.config = config
        self.model = model
        self.read_only = read_only
        #: read-only because the caller asked, not because the store cannot be written here
        self.read_only_by_request = False
        #: rebuild a missing or damaged index when reading; when false, raise IndexDamagedError
        self.heal = heal
        self.generation = -1  # nothing loaded yet: the first refresh loads the stored one
        self.index: HnswIndex = runtime.hnsw(config)
        self._writing = False
        self._rebuilt: str | None = None  # why the index of the open write was rebuilt

    @classmethod
    def open(
        cls,
        folder: str | Path,
        *,
        model: str | None,
        dimensions: int | None,
        runtime: Runtime,
        hnsw: HnswConfig | None = None,
        create: bool = True,
        read_only: bool = False,
        heal: bool = True,
    ) -> Storage:
        """Open the store in ``folder``, creating it if needed and ``create``; an existing
        store must have been built with ``model`` (None: whichever it was built with).
        A store this process cannot write opens read-only; so does any with ``read_only``.
        With ``heal`` false the index is not loaded until the first read."""
        folder = Path(folder)
        requested = read_only
        db, read_only = connect(folder, create=create, read_only=read_only)
        try:
            meta = _read_meta(db, folder, model, dimensions, hnsw, read_only)
            storage = cls(
                folder,
                runtime,
                db,
                HnswConfig.model_validate_json(meta["hnsw"]),
                model=meta["model"],
                read_only=read_only,
                heal=heal,
            )
            storage.read_only_by_request = requested
            if heal:
                with storage.reading():
                    pass
        except sqlite3.Error as exc:
            db.close()
            raise sqlite_failure(exc, folder) from None
        except BaseException:
            db.close()
            raise
        return storage

    @staticmethod
    def require_existing(folder: Path) -> None:
        check_folder(folder, create=False)

    @staticmethod
    def stored_model(folder: str | Path) -> str | None:
        """The model an existing store was built with, or None where there is no store yet."""
        folder = Path(folder)
        try:
            db, _ = connect(folder, create=False, read_only=True)
        except StoreNotFoundError:
            return None
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'model'").fetchone()
        except sqlite3.Error as exc:
            if "no such table" in str(exc):
                return None  # an empty database file: the store is created on open
            raise sqlite_failure(exc, folder) from None
        finally:
            db.close()
        return str(row[0]) if row else None

    def close(self) -> None:
        self.db.close()

    def require_writable(self) -> None:
        if self.read_only and self.read_only_by_request:
            raise StoreReadOnlyError(f"store {self.folder} was opened read-only: it can be queried but not changed")
        if self.read_only:
            raise StoreReadOnlyError(
                f"store {self.folder} is read-only here (not writable by this user, or on a read-only file "
                "system): it can be queried but not changed; write it from an account that may, or copy the "
                "folder somewhere writable"
            )

    def refresh(self, suspect: int | None = None) -> None:
        """Catch up with what other processes committed since this one last looked.
        ``suspect``: a generation whose file was already missing once in this read."""
        (stored,) = self.db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        stored = _generation(stored, self.folder)
        if stored == self.generation:
            return
        try:
            self.index = self._load_index(stored, missing_is_damage=self._writing or stored == suspect)
        except _Damaged as damaged:
            if not self._writing and not self.heal:
                raise IndexDamagedError(f"store {self.folder}: {damaged.reason}") from None
            if not (self._writing or self.read_only):
                raise  # ``reading`` heals under the writer lock, then reads again
            self.index = self.rebuilt_index()
            if self._writing:
                self._rebuilt = damaged.reason  # saved as the next generation when the write commits
            else:
                _notice(
                    f"store {self.folder}: {damaged.reason}; rebuilt the index from the {len(self.index)} vectors "
                    f"in SQLite, in memory only: the store is read-only here; `ruvector doctor --db {self.folder}` "
                    "run by a user who can write the store repairs it for good"
                )
        self.generation = stored

    @contextmanager
    def reading(self) -> Iterator[None]:
        """One consistent view: the index and the rows of the same committed generation."""
        if self._writing:
            yield
            return
        suspect: int | None = None
        for _ in range(READ_ATTEMPTS):
            try:
                self.db.execute("BEGIN")
                try:
                    self.refresh(suspect)
                except IndexDamagedError:
                    self.db.execute("COMMIT")
                    raise
                except _Replaced as replaced:  # replaced by a writer, or missing: look once more
                    suspect = replaced.generation
                    self.db.execute("COMMIT")
                    continue
                except _Damaged:
                    self.db.execute("COMMIT")
                    with self.writing():  # the writer's refresh rebuilds it and the write saves it
                        pass
                    continue
                try:
                    yield
                finally:
                    if self.db.in_transaction:  # SQLite may have rolled back after an error
                        self.db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise sqlite_failure(exc, self.folder) from None
            return
        raise StoreError(f"store {self.folder}: its index file keeps disappearing; is another program deleting it?")

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Group changes into one durable save; on any exception nothing is kept. Nested
        blocks join the outermost one."""
        if self._writing:
            yield
            return
        with self._write_transaction():
            try:
                self.refresh()
                before = self.db.total_changes
                yield
                changed = self.db.total_changes != before or self._rebuilt is not None
                if changed:
                    self._compact_if_worthwhile()
                    self._save_index(_index_name(self.generation + 1))
                    self.db.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (str(self.generation + 1),))
                self.db.execute("COMMIT")
                if changed:
                    self.generation += 1
                    self._remove_stale_files()
                if self._rebuilt is not None:  # no reader can use the damaged file: drop it
                    (self.folder / _index_name(self.generation - 1)).unlink(missing_ok=True)
                    _notice(
                        f"store {self.folder}: {self._rebuilt}; rebuilt the index from the {len(self.index)} "
                        f"vectors in SQLite and saved it as {_index_name(self.generation)}"
                    )
            except BaseException as exc:
                self._rollback()
                if isinstance(exc, sqlite3.Error):
                    raise sqlite_failure(exc, self.folder) from None
                raise
            finally:
                self._rebuilt = None

    @contextmanager
    def recording(self) -> Iterator[None]:
        """A durable change to SQLite alone (feedback, adapters, patterns), under the same
        writer lock: it never touches the index, so no index file is written for it."""
        if self._writing:
            yield
            return
        with self._write_transaction():
            try:
                yield
                self.db.execute("COMMIT")
            except BaseException as exc:
                self.db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise sqlite_failure(exc, self.folder) from None
                raise

    @contextmanager
    def _write_transaction(self) -> Iterator[None]:
        """The writer lock and an immediate SQLite transaction; the caller commits or rolls back."""
        self.require_writable()
        with FileLock(str(self.folder / LOCK_NAME)):
            try:
                self.db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise sqlite_failure(exc, self.folder) from None
            self._writing = True
            try:
                yield
            finally:
                self._writing = False

    def rebuild(self, reason: str) -> None:
        """Replace the index by one built from the stored vectors and save it as the next
        generation (in memory only when the store is read-only)."""
        if self.read_only:
            with self.reading():
                self.index = self.rebuilt_index()
            return
        with self.writing():
            if self._rebuilt is None:  # else opening the write found the damage and rebuilt already
                self.index = self.rebuilt_index()
                self._rebuilt = reason

    def index_problem(self) -> str | None:
        """What is wrong with the current generation's index file, or None: read without
        loading it into this storage (``ruvector doctor``)."""
        with self.snapshot():
            (stored,) = self.db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
            try:
                self._load_index(int(stored), missing_is_damage=True)
            except _Damaged as damaged:
                return damaged.reason
        return None

    def rebuilt_index(self) -> HnswIndex:
        """A fresh index of every item's stored vector (within the open transaction)."""
        fresh = self.runtime.hnsw(self.config)
        dimensions = self.config.dimensions
        rows = self.db.execute("SELECT rowid, id, vector FROM items ORDER BY rowid")
        while chunk := rows.fetchmany(REBUILD_CHUNK):
            broken = [item_id for _, item_id, blob in chunk if len(blob) != 4 * dimensions]
            if broken:
                raise StoreCorruptError(
                    f"store {self.folder}: the stored vector of item {broken[0]!r} is not {dimensions} float32 "
                    "values; delete that item and add it again"
                )
            vectors = np.frombuffer(b"".join(blob for _, _, blob in chunk), dtype="<f4").reshape(len(chunk), -1)
            fresh.insert_batch([str(row) for row, _, _ in chunk], vectors)
        return fresh

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction of SQLite alone, leaving the index as it is."""
        if self._writing:
            yield
            return
        self.db.execute("BEGIN")
        try:
            yield
        finally:
            if self.db.in_transaction:
                self.db.execute("COMMIT")

    def _save_index(self, name: str) -> None:
        try:
            write_atomically(self.folder / name, self.index.serialize())
        except OSError as exc:
            raise StoreError(
                f"store {self.folder}: cannot write {name} ({exc.strerror or exc}); nothing was changed; "
                "free some space or fix the folder's permissions, then try again"
            ) from None

    def _rollback(self) -> None:
        """Undo the open write: SQLite's transaction and the in-memory index's changes."""
        try:
            self.db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # SQLite already rolled back (e.g. after an I/O error)
        try:  # the in-memory index had the block's changes: go back to the committed file
            self.index = self._load_index(self.generation, missing_is_damage=True)
        except (_Damaged, _Replaced):
            self.generation = -1  # the next read loads (or heals) the stored generation

    def _compact_if_worthwhile(self) -> None:
        """Replace the index by a fresh build from the live items' stored vectors."""
        stats = self.index.stats()
        if stats.deleted >= max(COMPACT_MIN_DELETED, COMPACT_RATIO * stats.count):
            self.index = self.rebuilt_index()

    def _remove_stale_files(self) -> None:
        """Delete older index files, keeping the previous one for readers still on it."""
        keep = {_index_name(self.generation), _index_name(self.generation - 1)}
        for path in self.folder.glob("index-*.hnsw*"):
            if path.name not in keep:
                path.unlink(missing_ok=True)

    def _load_index(self, generation: int, *, missing_is_damage: bool) -> HnswIndex:
        if generation <= 0:
            return self.runtime.hnsw(self.config)
        name = _index_name(generation)
        try:
            data = (self.folder / name).read_bytes()
        except FileNotFoundError:
            if missing_is_damage:
                raise _Damaged(f"{name} is missing") from None
            raise _Replaced(generation) from None
        except OSError as exc:
            raise _Damaged(f"{name} cannot be read ({exc.strerror or exc})") from None
        try:
            index = self.runtime.hnsw_load(data)
        except CorruptIndexError as exc:
            raise _Damaged(f"{name} is damaged ({exc})") from None
        if index.config.dimensions != self.config.dimensions or index.config.metric != self.config.metric:
            raise _Damaged(
                f"{name} holds {index.config.dimensions}-dimensional {index.config.metric} vectors, "
                f"the store {self.config.dimensions}-dimensional {self.config.metric} ones"
            )
        return index


def _read_meta(
    db: sqlite3.Connection,
    folder: Path,
    model: str | None,
    dimensions: int | None,
    hnsw: HnswConfig | None,
    read_only: bool,
) -> dict[str, str]:
    """The store's meta table, created first for a new store; checked against what the
    caller expects."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'passages'").fetchone():
        raise StoreError(
            f"store {folder} was written by an earlier ruvector (passages, schema 1); "
            "index its files again into a new folder with `ruvector index PATH --db NEW`"
        )
    _check_tables(db, folder)  # before the schema's CREATE ... IF NOT EXISTS could replace a lost table empty
    if not read_only and _is_complete(db):
        # nothing to create: no write, so opening never waits on (or is refused by) a writer
        db.execute("PRAGMA synchronous = FULL")  # per connection, as the schema sets it
    elif not read_only:
        db.executescript(SCHEMA)
        if model is not None and dimensions is not None:
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
    try:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.OperationalError:
        meta = {}
    missing = [key for key in _META_KEYS if key not in meta]
    if missing:
        raise StoreCorruptError(
            f"store {folder}: {DB_NAME} is not a ruvector store (its meta table lacks {', '.join(missing)}); "
            "use another folder"
        )
    if meta["schema"] != SCHEMA_VERSION:
        raise StoreError(f"store {folder} has schema {meta['schema']}, this version reads {SCHEMA_VERSION}")
    _generation(meta["generation"], folder)
    try:
        HnswConfig.model_validate_json(meta["hnsw"])
        if int(meta["dimensions"]) <= 0:
            raise ValueError("dimensions must be positive")
    except (ValueError, pydantic.ValidationError):
        raise StoreCorruptError(
            f"store {folder}: {DB_NAME} holds damaged index settings (meta 'hnsw' or 'dimensions'); "
            "restore the folder from a backup or index into a new one"
        ) from None
    other_model = model is not None and meta["model"] != model
    if other_model or (dimensions is not None and int(meta["dimensions"]) != dimensions):
        raise StoreError(
            f"store {folder} was built with model {meta['model']!r} ({meta['dimensions']} dimensions), "
            f"not {model!r}; use that model or another folder"
        )
    return meta


#: The tables of a store that only a write fills: lost, they cannot be recreated empty
#: without losing what the store held (the learning tables came later and may be absent).
_CORE_TABLES = ("items", "items_fts")


def _is_complete(db: sqlite3.Connection) -> bool:
    """Whether the store already holds everything the schema creates and every meta row."""
    present = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    if not _SCHEMA_OBJECTS <= present:
        return False
    keys = {key for (key,) in db.execute("SELECT key FROM meta")}
    return set(_META_KEYS) <= keys


def _check_tables(db: sqlite3.Connection, folder: Path) -> None:
    """Refuse a store whose meta says it exists but whose items table is gone."""
    names = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "meta" not in names:
        return  # a new store (or not a store: the meta check says so)
    if not db.execute("SELECT 1 FROM meta WHERE key = 'generation'").fetchone():
        return  # still being created by another process: its meta rows come last
    lost = [table for table in _CORE_TABLES if table not in names]
    if lost:
        raise StoreCorruptError(
            f"store {folder}: {DB_NAME} has lost its {' and '.join(lost)} table(s), so its items are gone; "
            "restore the folder from a backup or index into a new one"
        )


def _generation(value: str, folder: Path) -> int:
    """The stored generation, a count that only a damaged meta table makes anything else."""
    if not (isinstance(value, str) and value.isascii() and value.isdigit()):
        raise StoreCorruptError(
            f"store {folder}: {DB_NAME} holds a damaged generation ({value!r}, not a count); "
            "restore the folder from a backup or index into a new one"
        )
    return int(value)


def _notice(message: str) -> None:
    warnings.warn(StoreRepairedWarning(message), stacklevel=3)


def _index_name(generation: int) -> str:
    return f"index-{generation}.hnsw"
