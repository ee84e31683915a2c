"""k-means with deterministic k-means++ seeding (Arthur & Vassilvitskii, 2007)."""

from __future__ import annotations

import numpy as np


def kmeans(points: np.ndarray, k: int, seed: int = 0, iterations: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """(centroids (k, d), labels (n,)); the same seed always gives the same clustering."""
    points = points.astype(np.float64)
    k = min(k, len(points))
    rng = np.random.default_rng(seed)
    centroids = _plus_plus(points, k, rng)
    labels = np.full(len(points), -1)
    for _ in range(iterations):
        new_labels = nearest_centroid(points, centroids)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
        for c in range(k):
            members = points[labels == c]
            if len(members):  # an emptied cluster keeps its centroid
                centroids[c] = members.mean(axis=0)
    return centroids, labels


def _plus_plus(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Each next seed is drawn with probability proportional to its squared distance to
    the nearest seed so far, which spreads seeds over the clusters."""
    centroids = [points[rng.integers(len(points))]]
    closest = ((points - centroids[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = closest.sum()
        index = rng.choice(len(points), p=closest / total) if total > 0 else rng.integers(len(points))
        centroids.append(points[index])
        closest = np.minimum(closest, ((points - points[index]) ** 2).sum(axis=1))
    return np.array(centroids)


def nearest_centroid(points: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    squared = (points**2).sum(1)[:, None] - 2.0 * points @ centroids.T + (centroids**2).sum(1)[None, :]
    nearest: np.ndarray = np.argmin(squared, axis=1)
    return nearest
