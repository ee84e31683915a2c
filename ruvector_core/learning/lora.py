"""Low-rank adapters on the embedding space: x -> x + (alpha / r) x A B.

Trained with Adam on the reward-weighted squared error between adapted queries and their
targets; A starts random, B at zero (so training starts from the identity), as in LoRA.
An optional EWC penalty keeps parameters that mattered for an earlier task near their
old values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..errors import InvalidInputError
from .ewc import penalty_gradient
from .models import FisherMatrix, LoRAConfig, LoRAWeights, Trajectory
from .pairs import training_pairs

LossAndGradients = Callable[
    [np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float], tuple[float, np.ndarray, np.ndarray]
]

_ADAM_BETAS = (0.9, 0.999)
_ADAM_EPS = 1e-8


def train_lora(
    trajectories: Sequence[Trajectory],
    config: LoRAConfig,
    start: LoRAWeights | None = None,
    ewc: FisherMatrix | None = None,
    ewc_lambda: float = 0.0,
    *,
    gradients: LossAndGradients,
) -> LoRAWeights:
    """Fit an adapter to the positive trajectories; deterministic for a given seed.

    ``start`` continues from an earlier adapter; ``ewc`` with ``ewc_lambda`` adds the
    penalty ``lambda / 2 * sum F (theta - theta*)^2`` to the loss. ``gradients`` is the
    kernel computing the loss and its gradients: the serving backend's ``lora_gradients``.
    """
    queries, targets, weights = training_pairs(trajectories)
    d = queries.shape[1]
    rng = np.random.default_rng(config.seed)
    if start is not None:
        if start.dimensions != d or start.rank != config.rank:
            raise InvalidInputError(f"start adapter is {start.dimensions}x{start.rank}, config wants {d}x{config.rank}")
        params = {"lora.a": start.a.astype(np.float64), "lora.b": start.b.astype(np.float64)}
    else:
        params = {"lora.a": rng.normal(0.0, 1.0 / np.sqrt(d), (d, config.rank)), "lora.b": np.zeros((config.rank, d))}
    optimizer = _Adam(params, config.learning_rate)
    loss = np.inf
    epochs_run = 0
    while epochs_run < config.epochs:
        epochs_run += 1
        order = rng.permutation(len(queries))
        for start_row in range(0, len(order), config.batch_size):
            rows = order[start_row : start_row + config.batch_size]
            _, grad_a, grad_b = gradients(
                queries[rows], targets[rows], weights[rows], params["lora.a"], params["lora.b"], config.scale
            )
            grads = {"lora.a": grad_a, "lora.b": grad_b}
            if ewc is not None and ewc_lambda > 0:
                for name, extra in penalty_gradient(params, ewc, ewc_lambda).items():
                    grads[name] = grads[name] + extra
            optimizer.step(grads)
        loss, _, _ = gradients(queries, targets, weights, params["lora.a"], params["lora.b"], config.scale)
        if loss <= config.target_loss:
            break
    return LoRAWeights(
        a=params["lora.a"], b=params["lora.b"], alpha=config.alpha, final_loss=loss, epochs_run=epochs_run
    )


def adapt(embeddings: np.ndarray, lora: LoRAWeights, normalize: bool = True) -> np.ndarray:
    """Apply the adapter to embeddings (n, d) or (d,); unit length again if ``normalize``."""
    x = np.asarray(embeddings, dtype=np.float64)
    adapted = x + lora.scale * (x @ lora.a) @ lora.b
    if normalize:
        adapted /= np.maximum(np.linalg.norm(adapted, axis=-1, keepdims=True), 1e-12)
    result: np.ndarray = adapted.astype(np.float32)
    return result


def merge(weight: np.ndarray, lora: LoRAWeights) -> np.ndarray:
    """W' = W + (alpha / r) A B: fold the adapter into a (d, d) projection."""
    weight = np.asarray(weight, dtype=np.float32)
    if weight.shape != (lora.dimensions, lora.dimensions):
        raise InvalidInputError(f"weight must be {lora.dimensions}x{lora.dimensions}, got {weight.shape}")
    merged: np.ndarray = weight + lora.delta()
    return merged


class _Adam:
    """Adam (Kingma & Ba, 2015) over a dict of arrays, updated in place."""

    def __init__(self, params: dict[str, np.ndarray], learning_rate: float) -> None:
        self.params = params
        self.lr = learning_rate
        self.t = 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, grads: dict[str, np.ndarray]) -> None:
        self.t += 1
        b1, b2 = _ADAM_BETAS
        for name, grad in grads.items():
            self.m[name] = b1 * self.m[name] + (1 - b1) * grad
            self.v[name] = b2 * self.v[name] + (1 - b2) * grad * grad
            m_hat = self.m[name] / (1 - b1**self.t)
            v_hat = self.v[name] / (1 - b2**self.t)
            self.params[name] -= self.lr * m_hat / (np.sqrt(v_hat) + _ADAM_EPS)
