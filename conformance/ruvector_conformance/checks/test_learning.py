"""Learning kernels against float64 formulas, and the algorithms built on them."""

from __future__ import annotations

import numpy as np
import pytest

import ruvector_core as rv
from ruvector_core.learning import LoRAConfig, Pattern, Trajectory

from ..data import corpus

pytestmark = pytest.mark.capability("learning")


def test_pattern_similarities(runtime: rv.Runtime) -> None:
    data = corpus()
    learning = runtime.learning
    got = learning.similarities(data.queries[0] * 7.0, data.base)
    want = data.base.astype(np.float64) @ (data.queries[0] / np.linalg.norm(data.queries[0]))
    assert got.shape == (len(data.base),) and np.allclose(got, want, atol=1e-5)


def test_lora_gradients(runtime: rv.Runtime) -> None:
    """Loss and gradients match the float64 formulas and a finite-difference check."""
    rng = np.random.default_rng(0)
    q, t = rng.standard_normal((40, 24)), rng.standard_normal((40, 24))
    w = rng.uniform(0.1, 1.0, 40)
    a, b, scale = rng.standard_normal((24, 4)) * 0.3, rng.standard_normal((4, 24)) * 0.3, 2.0
    loss, grad_a, grad_b = runtime.learning.kernels.lora_gradients(q, t, w, a, b, scale)

    def reference_loss(a_: np.ndarray, b_: np.ndarray) -> float:
        residual = q + scale * q @ a_ @ b_ - t
        return float((w[:, None] * residual**2).sum() / w.sum())

    assert loss == pytest.approx(reference_loss(a, b), rel=1e-9)
    eps = 1e-6
    for i, j in [(0, 0), (5, 3), (23, 1)]:
        bumped = a.copy()
        bumped[i, j] += eps
        assert grad_a[i, j] == pytest.approx((reference_loss(bumped, b) - loss) / eps, rel=1e-3, abs=1e-6)
    for i, j in [(0, 0), (3, 17), (2, 23)]:
        bumped = b.copy()
        bumped[i, j] += eps
        assert grad_b[i, j] == pytest.approx((reference_loss(a, bumped) - loss) / eps, rel=1e-3, abs=1e-6)


def test_infonce_gradients(runtime: rv.Runtime) -> None:
    """InfoNCE loss and its gradient match the float64 formula and a finite-difference check."""
    rng = np.random.default_rng(1)
    adapted = rng.standard_normal((12, 16)) * 2.0
    targets = rng.standard_normal((7, 16))
    targets /= np.linalg.norm(targets, axis=1, keepdims=True)
    positives = rng.integers(0, 7, 12)
    weights, temperature = rng.uniform(0.2, 1.0, 12), 0.3
    loss, grad = runtime.learning.kernels.infonce_gradients(adapted, targets, positives, weights, temperature)

    def reference_loss(y: np.ndarray) -> float:
        logits = (y / np.linalg.norm(y, axis=1, keepdims=True)) @ targets.T / temperature
        log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return float(-(weights * log_softmax[np.arange(12), positives]).sum() / weights.sum())

    assert loss == pytest.approx(reference_loss(adapted), rel=1e-9)
    eps = 1e-6
    for i, j in [(0, 0), (4, 9), (11, 15)]:
        bumped = adapted.copy()
        bumped[i, j] += eps
        assert grad[i, j] == pytest.approx((reference_loss(bumped) - loss) / eps, rel=1e-3, abs=1e-6)


def test_match_patterns(runtime: rv.Runtime, reference: rv.Runtime) -> None:
    data = corpus()
    rng = np.random.default_rng(2)
    patterns = [
        Pattern(id=f"p{i}", embedding=v, uses=int(u), successes=int(min(s, u)))
        for i, (v, u, s) in enumerate(
            zip(data.base[:2000], rng.integers(0, 30, 2000), rng.integers(0, 30, 2000), strict=True)
        )
    ]
    for query in data.queries[:20]:
        got = runtime.learning.match_patterns(query, patterns, threshold=0.5, k=5)
        want = reference.learning.match_patterns(query, patterns, threshold=0.5, k=5)
        assert [m.pattern.id for m in got] == [m.pattern.id for m in want]
        assert all(m.similarity >= 0.5 and m.pattern.active for m in got)


def test_train_lora_matches_reference(runtime: rv.Runtime, reference: rv.Runtime) -> None:
    rng = np.random.default_rng(3)
    q = rng.standard_normal((64, 16))
    t = q @ (np.eye(16) + rng.standard_normal((16, 2)) @ rng.standard_normal((2, 16)) * 0.5)
    trajectories = [Trajectory(query=x, target=y) for x, y in zip(q, t, strict=True)]
    config = LoRAConfig(rank=4, alpha=8, epochs=30, batch_size=16, seed=5)
    got = runtime.learning.train_lora(trajectories, config)
    want = reference.learning.train_lora(trajectories, config)
    assert got.final_loss == pytest.approx(want.final_loss, rel=1e-3)
    assert np.allclose(got.a, want.a, atol=1e-3) and np.allclose(got.b, want.b, atol=1e-3)
