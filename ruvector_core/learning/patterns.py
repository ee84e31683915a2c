"""Patterns: centroids of what worked, ranked by similarity times confidence."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ..validation import as_vector
from .kmeans import kmeans, nearest_centroid
from .models import Pattern, PatternMatch, Trajectory

DEFAULT_THRESHOLD = 0.75


def create_pattern(embedding: Any, metadata: dict[str, Any] | None = None, id: str | None = None) -> Pattern:
    """A new pattern (no uses yet, confidence 0.5) at ``embedding``, L2-normalised."""
    vector = as_vector(embedding, what="embedding")
    if not np.any(vector):
        raise InvalidInputError("a pattern embedding must not be the zero vector")
    return Pattern(id=id or uuid.uuid4().hex, embedding=vector, metadata=metadata or {})


def patterns_from_trajectories(
    trajectories: Sequence[Trajectory], clusters: int, min_cluster_size: int = 3, seed: int = 0
) -> list[Pattern]:
    """Cluster the queries of positive trajectories; each cluster of at least
    ``min_cluster_size`` becomes a pattern. Its outcomes give its confidence: every member
    is a use and a success, and every negative trajectory whose query lies nearest that
    cluster a use without success."""
    positive = [t for t in trajectories if t.positive]
    if not positive:
        return []
    queries = _unit_rows([t.query for t in positive])
    centroids, labels = kmeans(queries, clusters, seed=seed)
    negative = [t for t in trajectories if not t.positive]
    failures = np.zeros(len(centroids), dtype=np.int64)
    if negative:
        nearest = nearest_centroid(_unit_rows([t.query for t in negative]), centroids)
        failures = np.bincount(nearest, minlength=len(centroids))
    patterns = []
    for c, centroid in enumerate(centroids):
        members = [t for t, label in zip(positive, labels, strict=True) if label == c]
        if len(members) < min_cluster_size or not np.linalg.norm(centroid):
            continue
        metadata = {
            "cluster_size": len(members),
            "mean_reward": float(np.mean([t.reward for t in members])),
            "examples": [t.metadata for t in members[:5]],
        }
        pattern = create_pattern(centroid, metadata, id=f"pattern-{seed}-{c}")
        uses = len(members) + int(failures[c])
        patterns.append(pattern.model_copy(update={"uses": uses, "successes": len(members)}))
    return patterns


def _unit_rows(vectors: Sequence[np.ndarray]) -> np.ndarray:
    rows = np.stack(vectors).astype(np.float64)
    rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
    return rows


def rank_matches(similarities: np.ndarray, patterns: Sequence[Pattern], threshold: float, k: int) -> list[PatternMatch]:
    """Active patterns at or above ``threshold``, best ``similarity * confidence`` first."""
    above = np.flatnonzero(similarities >= threshold)  # usually few: rank only those in Python
    matches = [
        PatternMatch(pattern=p, similarity=s, score=s * p.confidence)
        for p, s in ((patterns[i], float(similarities[i])) for i in above.tolist())
        if p.active
    ]
    matches.sort(key=lambda m: (-m.score, m.pattern.id))
    return matches[:k]
