"""Opening a store's SQLite file, and SQLite's failures turned into store errors.

A store that this process cannot write (permissions, or a read-only mount) opens read-only
for querying: ``mode=ro`` and no schema creation. SQLite can only read a WAL database
read-only if its ``-shm`` file exists or can be created; where neither holds (a read-only
mount of a cleanly closed store) it is opened ``immutable``, which is what such a mount is.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from .errors import StoreCorruptError, StoreError, StoreNotFoundError, StorePathError, StorePermissionError

DB_NAME = "store.sqlite3"
_CORRUPT = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}
_PERMISSION = {"SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH"}


def check_folder(folder: Path, *, create: bool) -> bool:
    """Refuse a path that cannot hold a store; say whether a store file is there already."""
    if folder.exists() and not folder.is_dir():
        raise StorePathError(
            f"{folder} is a file, not a store folder: a store is a folder holding {DB_NAME}; "
            "name a folder (a new one is created) or an existing store"
        )
    path = folder / DB_NAME
    if path.exists() and not path.is_file():
        raise StorePathError(f"store {folder}: {path} is not a regular file; move it away or use another folder")
    if path.is_file():
        return True
    if not create:
        raise StoreNotFoundError(f"no store in {folder}: add items with `ruvector add` or `ruvector index` first")
    return False


def writable(folder: Path) -> bool:
    """Whether this process may write the store (its folder, and its file where it exists)."""
    path = folder / DB_NAME
    return os.access(folder, os.W_OK | os.X_OK) and (not path.exists() or os.access(path, os.W_OK))


def connect(folder: Path, *, create: bool, read_only: bool = False) -> tuple[sqlite3.Connection, bool]:
    """A connection to the store in ``folder`` (created if absent and ``create``) and whether
    it is read-only: asked for, or because this process cannot write the store."""
    exists = check_folder(folder, create=create)
    if not exists:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorePermissionError(
                f"cannot create a store in {folder}: {exc.strerror or exc}; choose a folder you can write"
            ) from None
    if not writable(folder):
        if not exists:
            raise StorePermissionError(
                f"cannot create a store in {folder}: the folder is not writable (permissions or a read-only "
                "file system); choose a folder you can write"
            )
        read_only = True
    try:
        if not read_only:
            db = sqlite3.connect(folder / DB_NAME, isolation_level=None, check_same_thread=False)
        else:
            db = _connect_read_only(folder / DB_NAME)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()  # "not a database" shows here
    except sqlite3.Error as exc:
        raise sqlite_failure(exc, folder) from None
    return db, read_only


def _connect_read_only(path: Path) -> sqlite3.Connection:
    uri = path.resolve().as_uri()
    db = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:  # a WAL store whose -shm file cannot be created here
        db.close()
    return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None, check_same_thread=False)


def sqlite_failure(exc: sqlite3.Error, folder: Path) -> StoreError:
    """The store error that says what an SQLite failure means for this store and what to do."""
    name = getattr(exc, "sqlite_errorname", "")
    if name in _CORRUPT or (isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError)):
        return StoreCorruptError(
            f"store {folder}: {DB_NAME} is not a readable SQLite database ({exc}). It cannot be repaired in "
            f"place: restore the folder from a backup, or move it aside and index your files again into a new "
            f"folder (`ruvector index PATH --db NEW`); `sqlite3 {DB_NAME} .recover` may salvage items"
        )
    if name in _PERMISSION:
        return StorePermissionError(
            f"store {folder}: SQLite cannot open or write {DB_NAME} ({exc}); check the folder's and the file's "
            "permissions, or use a folder you can write"
        )
    if name == "SQLITE_FULL" or name.startswith("SQLITE_IOERR"):
        return StoreError(
            f"store {folder}: SQLite could not read or write {DB_NAME} ({exc}): is the disk full or failing? "
            "Nothing was changed; free some space and try again"
        )
    if name in ("SQLITE_BUSY", "SQLITE_LOCKED"):
        return StoreError(f"store {folder}: the database is busy ({exc}); another program holds it, try again")
    return StoreError(f"store {folder}: SQLite failed: {exc}")
