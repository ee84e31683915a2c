"""``ruvector doctor``: check a store end to end and repair what can be repaired.

SQLite holds everything that cannot be derived (texts, metadata, vectors); the HNSW index
and the FTS5 keyword index are derived from it. So damage to SQLite itself is reported with
how to recover, while a missing, damaged or inconsistent index is rebuilt from the stored
vectors and an FTS5 index out of step with the items is rebuilt from their texts. Repairs
are ordinary saves: under the writer lock, written atomically as a new generation.
"""

from __future__ import annotations

import sqlite3
import warnings
from contextlib import closing, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from filelock import FileLock

from ..hnsw_index import HnswIndex
from ..runtime import Runtime
from .database import DB_NAME, connect, sqlite_failure, writable
from .errors import StoreCorruptError, StoreError, StoreRepairedWarning
from .storage import LOCK_NAME, Storage

Status = Literal["ok", "repaired", "problem", "not checked"]
#: neighbours asked for when checking that a search for an item's own vector finds it
REACH_K = 10
REACH_CHUNK = 4096
#: the beam of the second look for an item its first search missed
REACH_EF = 512


@dataclass(frozen=True)
class Finding:
    """One check: what was looked at, its outcome and the details."""

    check: str
    status: Status
    detail: str


@dataclass
class DoctorReport:
    folder: Path
    findings: list[Finding] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """True when nothing is wrong now (every problem found was repaired)."""
        return all(f.status != "problem" for f in self.findings)

    def add(self, check: str, status: Status, detail: str) -> None:
        self.findings.append(Finding(check, status, detail))


def examine(folder: str | Path, runtime: Runtime, *, repair: bool) -> DoctorReport:
    """Check the store in ``folder``; with ``repair``, rebuild what is derived and wrong.
    A path that holds no store raises the usual ``StoreError``."""
    folder = Path(folder)
    report = DoctorReport(folder)
    try:
        db, read_only = connect(folder, create=False, read_only=not repair)
    except StoreCorruptError as exc:
        report.add("sqlite", "problem", str(exc))
        return report
    try:
        problems = [row for (row,) in db.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.Error as exc:
        problems = [str(sqlite_failure(exc, folder))]
    finally:
        db.close()
    if problems != ["ok"]:
        report.add("sqlite", "problem", f"PRAGMA integrity_check: {'; '.join(problems[:5])}. {_SQLITE_RECOVERY}")
        return report
    report.add("sqlite", "ok", "PRAGMA integrity_check: ok")
    # why a problem found stays unrepaired; None: repair it
    unrepaired = None if repair and not read_only else (_READ_ONLY if repair else _CHECK_ONLY)
    try:
        storage = Storage.open(
            folder, model=None, dimensions=None, runtime=runtime, create=False, read_only=not repair, heal=False
        )
    except StoreError as exc:
        report.add("store", "problem", str(exc))
        return report
    try:
        with warnings.catch_warnings():  # the report says what was rebuilt
            warnings.simplefilter("ignore", StoreRepairedWarning)
            _check_index(storage, report, unrepaired)
    finally:
        storage.close()
    _check_keywords(folder, report, unrepaired)
    return report


_CHECK_ONLY = "`ruvector doctor` without --check-only rebuilds it"
_READ_ONLY = "the store is read-only here: `ruvector doctor` run by a user who can write it rebuilds it"
_SQLITE_RECOVERY = (
    f"SQLite damage is not repaired here: restore the folder from a backup, or salvage with "
    f"`sqlite3 {DB_NAME} .recover | sqlite3 recovered.sqlite3`, or index your files again into a new folder"
)


def _check_index(storage: Storage, report: DoctorReport, unrepaired: str | None) -> None:
    """The index file loads, holds exactly the items, and finds each by its own vector."""
    problem = storage.index_problem()
    if problem is not None:
        if not _rebuild(storage, report, "index file", problem, unrepaired):
            return
    else:
        with storage.reading():
            pass
        report.add("index file", "ok", f"{_name(storage)} loads and passes its checksum")
    problem = _membership_problem(storage)
    if problem is None:
        report.add("items in index", "ok", f"{len(storage.index)} items, each in the index once")
    elif not _rebuild(storage, report, "items in index", problem, unrepaired) or _membership_problem(storage):
        return
    lost = _unreachable(storage)
    if not lost:
        report.add("search", "ok", f"a search for each item's own vector finds it ({len(storage.index)} items)")
        return
    problem = f"{len(lost)} items are not found by a search for their own vector (e.g. {', '.join(lost[:3])})"
    if _rebuild(storage, report, "search", problem, unrepaired) and (still := _unreachable(storage)):
        report.add("search", "problem", f"after the rebuild {len(still)} items are still not found by their vector")


def _rebuild(storage: Storage, report: DoctorReport, check: str, problem: str, unrepaired: str | None) -> bool:
    """Rebuild the index when repairing; record the outcome; True when the index is now sound."""
    if unrepaired is not None:
        report.add(check, "problem", f"{problem}; {unrepaired}")
        return False
    storage.rebuild(problem)
    rebuilt = f"rebuilt from the {len(storage.index)} stored vectors as {_name(storage)}"
    report.add(check, "repaired", f"{problem}: {rebuilt}")
    return True


def _membership_problem(storage: Storage) -> str | None:
    with storage.reading():
        rows = {str(r) for (r,) in storage.db.execute("SELECT rowid FROM items")}
        indexed = set(storage.index.ids())
    if rows == indexed:
        return None
    missing, extra = len(rows - indexed), len(indexed - rows)
    return f"{len(rows)} items in SQLite, {len(indexed)} in the index ({missing} missing from it, {extra} not items)"


def _unreachable(storage: Storage) -> list[str]:
    """Items a search for their own stored vector does not return (a hit scoring as well as
    the item itself counts as found: an identical vector stored for another item cannot be
    told apart from it). A search is approximate, so an item missed at the index's own
    ``ef`` is looked for again with a wide beam, and only one missed then is unreachable."""
    lost: list[str] = []
    metric = storage.config.metric
    with storage.reading():
        index = storage.index
        k = min(REACH_K, len(index))
        if k == 0:
            return lost
        rows = storage.db.execute("SELECT rowid, id, vector FROM items ORDER BY rowid")
        while chunk := rows.fetchmany(REACH_CHUNK):
            vectors = np.frombuffer(b"".join(blob for _, _, blob in chunk), dtype="<f4").reshape(len(chunk), -1)
            missed = _missed(index, vectors, [str(row) for row, _, _ in chunk], k, None, metric)
            if missed:
                again = _missed(index, vectors[missed], [str(chunk[i][0]) for i in missed], k, REACH_EF, metric)
                lost += [repr(chunk[missed[i]][1]) for i in again]
    return lost


def _missed(index: HnswIndex, vectors: np.ndarray, keys: list[str], k: int, ef: int | None, metric: str) -> list[int]:
    """Positions of the vectors whose search does not return their own key."""
    ids, scores = index.search_batch(vectors, k=k, ef=ef)
    return [
        position
        for position, (key, vector, found, best) in enumerate(zip(keys, vectors, ids, scores, strict=True))
        if key not in set(found) and not (len(best) and best[0] >= _self_score(vector, metric) - 1e-4)
    ]


def _self_score(vector: np.ndarray, metric: str) -> float:
    """The score a vector has against itself: cosine 1, dot its squared norm, euclidean 0."""
    if metric == "dot":
        return float(np.dot(vector, vector))
    return 1.0 if metric == "cosine" else 0.0


def _check_keywords(folder: Path, report: DoctorReport, unrepaired: str | None) -> None:
    """The FTS5 keyword index agrees with the items' texts. FTS5 runs its check as an
    INSERT, which SQLite refuses on a read-only connection although nothing is written, so
    the check has a connection of its own (opened after the store's is closed, so SQLite
    removes its WAL files as usual) and rolls back; a repair holds the writer lock."""
    if not writable(folder):
        report.add("keyword index", "not checked", "FTS5's check needs write access; the store is read-only here")
        return
    lock = FileLock(str(folder / LOCK_NAME)) if unrepaired is None else nullcontext()
    with lock, closing(sqlite3.connect(folder / DB_NAME, isolation_level=None)) as db:
        try:
            db.execute("BEGIN")
            db.execute("INSERT INTO items_fts(items_fts, rank) VALUES ('integrity-check', 1)")
            report.add("keyword index", "ok", "the FTS5 index matches the items' texts")
            return
        except sqlite3.Error as exc:
            problem = f"the FTS5 keyword index does not match the items' texts ({exc})"
        finally:
            db.execute("ROLLBACK")
        if unrepaired is not None:
            report.add("keyword index", "problem", f"{problem}; {unrepaired}")
            return
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO items_fts(items_fts) VALUES ('rebuild')")
        db.execute("COMMIT")
    report.add("keyword index", "repaired", f"{problem}: rebuilt from the items' texts")


def _name(storage: Storage) -> str:
    return f"index-{storage.generation}.hnsw"
