"""Adapter versions of one store: kept, listed, activated and rolled back.

Every trained adapter is kept (``adapters`` table) whether or not it was activated, with the
Fisher information that the next training's EWC penalty uses and its training report.
The active version and the history of activations are ``meta`` entries, so every process
that opens the store applies the same adapter, and a rollback returns to whatever was
active before.
"""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..errors import InvalidInputError
from ..learning import FisherMatrix, LoRAWeights
from ..learning.persistence import fisher_bytes, lora_bytes, parse_fisher, parse_lora
from .storage import Storage

_ACTIVE = "active_adapter"
_HISTORY = "adapter_history"


class AdapterInfo(BaseModel):
    """One adapter version: when it was made, what it learned from, whether it is active,
    and its training report (``LearnReport`` as a dict)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    created: float
    through: int
    active: bool
    report: dict[str, Any]


class AdapterStore:
    """The ``adapters`` table and the activation entries of one store."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._cache: tuple[int, LoRAWeights] | None = None

    def add(self, adapter: LoRAWeights, fisher: FisherMatrix, through: int, report: dict[str, Any]) -> int:
        """Keep a new version (not yet active); returns its number."""
        with self._storage.recording():
            (version,) = self._storage.db.execute(
                "INSERT INTO adapters(created, through, weights, fisher, report) VALUES (?, ?, ?, ?, ?) "
                "RETURNING version",
                (time.time(), through, lora_bytes(adapter), fisher_bytes(fisher), json.dumps(report)),
            ).fetchone()
        return int(version)

    def set_report(self, version: int, report: dict[str, Any]) -> None:
        with self._storage.recording():
            self._storage.db.execute("UPDATE adapters SET report = ? WHERE version = ?", (json.dumps(report), version))

    def versions(self) -> list[AdapterInfo]:
        with self._storage.reading():
            active = self._active_version()
            rows = self._storage.db.execute(
                "SELECT version, created, through, report FROM adapters ORDER BY version"
            ).fetchall()
        return [
            AdapterInfo(version=v, created=c, through=t, active=v == active, report=json.loads(r))
            for v, c, t, r in rows
        ]

    def active_record(self) -> tuple[int, int, LoRAWeights, FisherMatrix] | None:
        """The active version's number, the last feedback it learned from, its weights and
        its Fisher information: what the next training continues from."""
        with self._storage.reading():
            version = self._active_version()
            row = self._storage.db.execute(
                "SELECT through, weights, fisher FROM adapters WHERE version = ?", (version,)
            ).fetchone()
        if version is None or row is None:
            return None
        through, weights, fisher = row
        return version, int(through), parse_lora(weights, f"adapter {version}"), parse_fisher(fisher)

    def latest_through(self) -> int | None:
        """The last feedback event any adapter (active or not) learned from."""
        with self._storage.reading():
            (through,) = self._storage.db.execute("SELECT MAX(through) FROM adapters").fetchone()
        return None if through is None else int(through)

    def active(self) -> LoRAWeights | None:
        """The active adapter, read once per version (call inside the store's read snapshot)."""
        version = self._active_version()
        if version is None:
            return None
        if self._cache is None or self._cache[0] != version:
            (blob,) = self._storage.db.execute("SELECT weights FROM adapters WHERE version = ?", (version,)).fetchone()
            self._cache = (version, parse_lora(blob, f"adapter {version}"))
        return self._cache[1]

    def active_version(self) -> int | None:
        with self._storage.reading():
            return self._active_version()

    def weights(self, version: int) -> LoRAWeights:
        with self._storage.reading():
            row = self._storage.db.execute("SELECT weights FROM adapters WHERE version = ?", (version,)).fetchone()
        if row is None:
            raise InvalidInputError(f"no adapter version {version}")
        return parse_lora(row[0], f"adapter {version}")

    def activate(self, version: int | None) -> None:
        """Make ``version`` the adapter applied at recall (None: no adapter)."""
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise InvalidInputError(f"version must be an adapter number or None, got {version!r}")
        with self._storage.recording():
            db = self._storage.db
            if (
                version is not None
                and not db.execute("SELECT 1 FROM adapters WHERE version = ?", (version,)).fetchone()
            ):
                raise InvalidInputError(f"no adapter version {version}; nothing changed")
            history = self._history() + [version]
            self._write_meta(version, history)

    def rollback(self) -> int | None:
        """Return to the adapter that was active before the current one (or to none);
        returns the version now active."""
        with self._storage.recording():
            history = self._history()
            if not history:
                raise InvalidInputError("no adapter was ever activated; nothing to roll back")
            history.pop()
            previous = history[-1] if history else None
            self._write_meta(previous, history)
        return previous

    def _active_version(self) -> int | None:
        row = self._storage.db.execute("SELECT value FROM meta WHERE key = ?", (_ACTIVE,)).fetchone()
        return None if row is None or row[0] == "" else int(row[0])

    def _history(self) -> list[int | None]:
        row = self._storage.db.execute("SELECT value FROM meta WHERE key = ?", (_HISTORY,)).fetchone()
        history: list[int | None] = json.loads(row[0]) if row else []
        return history

    def _write_meta(self, version: int | None, history: list[int | None]) -> None:
        self._storage.db.executemany(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(_ACTIVE, "" if version is None else str(version)), (_HISTORY, json.dumps(history))],
        )
