"""The training pairs of a set of trajectories: what LoRA fits and what EWC's Fisher weighs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InvalidInputError
from .models import Trajectory


def training_pairs(trajectories: Sequence[Trajectory]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(queries, targets, weights) of the positive trajectories, weights = rewards."""
    positive = [t for t in trajectories if t.positive]
    if not positive:
        raise InvalidInputError("training needs at least one positive trajectory")
    queries = np.stack([t.query for t in positive]).astype(np.float64)
    targets = np.stack([t.target for t in positive]).astype(np.float64)
    weights = np.array([t.reward if t.reward > 0 else 1.0 for t in positive])
    return queries, targets, weights
