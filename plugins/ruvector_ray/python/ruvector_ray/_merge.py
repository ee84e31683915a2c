"""Merging the shards' answers into one top-k.

Every shard answers with its own exact-as-its-graph top-k, and scores are similarities on
every metric (higher is better), so the global top-k is the k highest scores of the union
of the shards' lists. Sorts are stable, so ties keep shard order and the merge is
deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def merge_hits(per_shard: Sequence[Sequence[tuple[str, float]]], k: int) -> list[tuple[str, float]]:
    pairs = [pair for hits in per_shard for pair in hits]
    pairs.sort(key=lambda pair: -pair[1])
    return pairs[:k]


def merge_batches(
    per_shard: Sequence[tuple[np.ndarray, np.ndarray]], rows: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, scores) of shape (rows, k) from each shard's (ids, scores) of the same shape,
    padded with None and -inf as ``HnswIndex.search_batch`` pads."""
    if not per_shard:
        return np.full((rows, k), None, dtype=object), np.full((rows, k), -np.inf, dtype=np.float32)
    ids = np.concatenate([i for i, _ in per_shard], axis=1)
    scores = np.concatenate([s for _, s in per_shard], axis=1).astype(np.float32, copy=False)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(ids, order, axis=1), np.take_along_axis(scores, order, axis=1)
