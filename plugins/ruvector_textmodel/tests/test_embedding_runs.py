"""The cut of an embed_batch call into transformer runs (no model needed)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ruvector_textmodel.chunking import plan_runs


def cost(runs: list[np.ndarray], lengths: np.ndarray, run_cost: float) -> float:
    return sum(len(run) * int(lengths[run].max()) for run in runs) + run_cost * len(runs)


def cheapest_by_enumeration(lengths: np.ndarray, limit: int, run_cost: float) -> float:
    """Every way of cutting the sorted texts into consecutive runs."""
    order = np.argsort(lengths, kind="stable")
    n = len(order)
    best = float("inf")
    for cuts in itertools.product((False, True), repeat=n - 1):
        bounds = [0] + [i + 1 for i, cut in enumerate(cuts) if cut] + [n]
        runs = [order[a:b] for a, b in itertools.pairwise(bounds)]
        if all(len(run) <= limit for run in runs):
            best = min(best, cost(runs, lengths, run_cost))
    return best


@pytest.mark.parametrize("seed", range(25))
def test_plan_is_the_cheapest_cut(seed: int) -> None:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 60, size=int(rng.integers(1, 10)))
    limit, run_cost = int(rng.integers(1, 6)), float(rng.choice([0, 4, 16, 40]))
    runs = plan_runs(lengths, limit, run_cost)
    assert sorted(np.concatenate(runs).tolist()) == list(range(len(lengths)))
    assert all(1 <= len(run) <= limit for run in runs)
    assert cost(runs, lengths, run_cost) == cheapest_by_enumeration(lengths, limit, run_cost)


def test_runs_group_similar_lengths() -> None:
    lengths = np.array([12, 200, 11, 13, 190, 12, 10, 14])
    runs = plan_runs(lengths, limit=32)
    assert [sorted(lengths[run].tolist()) for run in runs] == [[10, 11, 12, 12, 13, 14], [190, 200]]


def test_empty_call_has_no_runs() -> None:
    assert plan_runs(np.array([], dtype=np.int64), limit=32) == []
