"""Feedback: which item answered which query, and how well, kept as trajectories to learn from.

Each event keeps the query's text and base embedding and the item's vector as it was when
the feedback came, so learning never depends on the item still existing or unchanged.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..errors import InvalidInputError
from ..learning import Trajectory
from .storage import Storage


class FeedbackEvent(BaseModel):
    """One recorded trajectory: ``reward`` in [-1, 1] for item ``item_id`` of ``namespace``
    as the answer to ``query``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int
    namespace: str
    item_id: str
    query: str
    reward: float = Field(ge=-1.0, le=1.0)
    recorded: float


def reward_of(reward: Any, success: Any) -> float:
    """The reward of a feedback call: a number in [-1, 1], or success True (1) / False (-1)."""
    if (reward is None) == (success is None):
        raise InvalidInputError("give either reward (a number in [-1, 1]) or success (True or False)")
    if success is not None:
        if not isinstance(success, bool):
            raise InvalidInputError(f"success must be True or False, got {success!r}")
        return 1.0 if success else -1.0
    if isinstance(reward, bool) or not isinstance(reward, int | float) or not -1.0 <= float(reward) <= 1.0:
        raise InvalidInputError(f"reward must be a number in [-1, 1], got {reward!r}")
    return float(reward)


class FeedbackLog:
    """The ``feedback`` table of one store."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def record(self, namespace: str, item_id: str, query: str, query_vector: np.ndarray, reward: float) -> int:
        """Store one event for an item that exists now; returns its sequence number."""
        storage = self._storage
        with storage.recording():
            row = storage.db.execute(
                "SELECT vector FROM items WHERE namespace = ? AND id = ?", (namespace, item_id)
            ).fetchone()
            if row is None:
                raise InvalidInputError(f"namespace {namespace!r} holds no item {item_id!r}; no feedback was recorded")
            (seq,) = storage.db.execute(
                "INSERT INTO feedback(namespace, item_id, query, query_vector, item_vector, reward, recorded) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq",
                (namespace, item_id, query, _blob(query_vector), row[0], reward, time.time()),
            ).fetchone()
        return int(seq)

    def events(self, after: int = 0, limit: int | None = None) -> list[FeedbackEvent]:
        """Events recorded after sequence number ``after``, oldest first."""
        with self._storage.reading():
            rows = self._storage.db.execute(
                "SELECT seq, namespace, item_id, query, reward, recorded FROM feedback WHERE seq > ? ORDER BY seq "
                "LIMIT ?",
                (after, -1 if limit is None else limit),
            ).fetchall()
        return [
            FeedbackEvent(seq=s, namespace=n, item_id=i, query=q, reward=r, recorded=t) for s, n, i, q, r, t in rows
        ]

    def trajectories(self, after: int = 0) -> list[tuple[FeedbackEvent, Trajectory]]:
        """Events after ``after`` with their trajectories (query and item vectors, reward)."""
        with self._storage.reading():
            rows = self._storage.db.execute(
                "SELECT seq, namespace, item_id, query, reward, recorded, query_vector, item_vector "
                "FROM feedback WHERE seq > ? ORDER BY seq",
                (after,),
            ).fetchall()
        out = []
        for seq, namespace, item_id, query, reward, recorded, query_blob, item_blob in rows:
            event = FeedbackEvent(
                seq=seq, namespace=namespace, item_id=item_id, query=query, reward=reward, recorded=recorded
            )
            trajectory = Trajectory(
                query=np.frombuffer(query_blob, dtype="<f4"),
                target=np.frombuffer(item_blob, dtype="<f4"),
                reward=reward,
                metadata={"seq": seq, "namespace": namespace, "id": item_id, "query": query},
            )
            out.append((event, trajectory))
        return out

    def last_seq(self) -> int:
        with self._storage.reading():
            (seq,) = self._storage.db.execute("SELECT COALESCE(MAX(seq), 0) FROM feedback").fetchone()
        return int(seq)


def _blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()
