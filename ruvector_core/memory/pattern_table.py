"""The store's pattern library: the ``patterns`` table, replaced whole by each ``learn``."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from ..learning import Pattern
from .storage import Storage


class PatternTable:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def replace(self, patterns: Sequence[Pattern]) -> None:
        with self._storage.recording():
            db = self._storage.db
            db.execute("DELETE FROM patterns")
            db.executemany(
                "INSERT INTO patterns(id, embedding, uses, successes, metadata) VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        p.id,
                        np.ascontiguousarray(p.embedding, dtype="<f4").tobytes(),
                        p.uses,
                        p.successes,
                        json.dumps(p.metadata, ensure_ascii=False),
                    )
                    for p in patterns
                ],
            )

    def load(self) -> list[Pattern]:
        with self._storage.reading():
            rows = self._storage.db.execute(
                "SELECT id, embedding, uses, successes, metadata FROM patterns ORDER BY id"
            ).fetchall()
        return [
            Pattern(id=i, embedding=np.frombuffer(e, dtype="<f4"), uses=u, successes=s, metadata=json.loads(m))
            for i, e, u, s, m in rows
        ]
