"""Recall against exact neighbours, and reading a recall/speed curve."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def recall_at_k(found: np.ndarray | Sequence[Sequence[int]], truth: np.ndarray) -> float:
    """Mean fraction of each query's exact ``k`` neighbours found among its returned rows.

    ``found`` holds base row indices per query (any width; negative entries are padding);
    ``truth`` has shape (queries, k).
    """
    truth = np.asarray(truth)
    if truth.ndim != 2 or truth.shape[1] == 0:
        raise ValueError("truth must have shape (queries, k) with k >= 1")
    if len(found) != len(truth):
        raise ValueError(f"{len(found)} result rows for {len(truth)} queries")
    hits = 0
    for row, exact in zip(found, truth, strict=True):
        hits += len({int(i) for i in row if int(i) >= 0} & {int(i) for i in exact})
    return hits / truth.size


def fastest_at_recall(points: Sequence[dict[str, Any]], recall: float) -> dict[str, Any] | None:
    """The point with the lowest median latency whose recall is at least ``recall``."""
    eligible = [p for p in points if p["recall"] >= recall]
    return min(eligible, key=lambda p: p["latency"]["median"]) if eligible else None


def pareto(points: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Points not beaten on both recall and latency, by ascending latency."""
    front: list[dict[str, Any]] = []
    for point in sorted(points, key=lambda p: (p["latency"]["median"], -p["recall"])):
        if not front or point["recall"] > front[-1]["recall"]:
            front.append(point)
    return front
