"""Low-rank adapters on the embedding space: x -> x + (alpha / r) x A B.

Trained with Adam on one of two objectives over the positive trajectories: the
reward-weighted squared error between adapted queries and their targets (``mse``), or
InfoNCE (``infonce``), which ranks each query's target above the other targets of its batch
and so trains for retrieval rather than for reaching a point. A starts random, B at zero (so
training starts from the identity), as in LoRA. Two optional penalties shape what is
learned: EWC keeps parameters that mattered for an earlier task near their old values, and
``preserve`` keeps the adapter from moving anchor vectors (say, the stored items), so
queries unlike the training ones are answered as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InvalidInputError
from ..protocols import LearningKernels
from .ewc import penalty_gradient
from .models import FisherMatrix, LoRAConfig, LoRAWeights, Trajectory
from .pairs import training_pairs

_ADAM_BETAS = (0.9, 0.999)
_ADAM_EPS = 1e-8


def train_lora(
    trajectories: Sequence[Trajectory],
    config: LoRAConfig,
    start: LoRAWeights | None = None,
    ewc: FisherMatrix | None = None,
    ewc_lambda: float = 0.0,
    anchors: np.ndarray | None = None,
    *,
    kernels: LearningKernels,
) -> LoRAWeights:
    """Fit an adapter to the positive trajectories; deterministic for a given seed.

    ``start`` continues from an earlier adapter; ``ewc`` with ``ewc_lambda`` adds the
    penalty ``lambda / 2 * sum F (theta - theta*)^2`` to the loss; ``anchors`` (rows of the
    embedding space) with ``config.preserve`` adds ``preserve * mean |s x A B|^2`` over them.
    ``kernels`` computes the objective: the serving backend's learning kernels.
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
    if anchors is not None:
        anchors = np.asarray(anchors, dtype=np.float64)
        if anchors.ndim != 2 or anchors.shape[1] != d:
            raise InvalidInputError(f"anchors must be rows of {d} dimensions, got shape {anchors.shape}")
    optimizer = _Adam(params, config.learning_rate)
    losses: list[float] = []
    while len(losses) < config.epochs:
        order = rng.permutation(len(queries))
        epoch_loss = 0.0
        for start_row in range(0, len(order), config.batch_size):
            rows = order[start_row : start_row + config.batch_size]
            loss, grad_a, grad_b = objective_gradients(
                kernels, config, queries[rows], targets[rows], weights[rows], params["lora.a"], params["lora.b"]
            )
            epoch_loss += loss * weights[rows].sum() / weights.sum()
            grads = {"lora.a": grad_a, "lora.b": grad_b}
            if anchors is not None and len(anchors) and config.preserve > 0:
                sample = anchors[rng.integers(0, len(anchors), config.batch_size)]
                for name, extra in _preserve_gradient(sample, params, config).items():
                    grads[name] = grads[name] + extra
            if ewc is not None and ewc_lambda > 0:
                for name, extra in penalty_gradient(params, ewc, ewc_lambda).items():
                    grads[name] = grads[name] + extra
            optimizer.step(grads)
        losses.append(float(epoch_loss))
        if epoch_loss <= config.target_loss:
            break
    return LoRAWeights(
        a=params["lora.a"],
        b=params["lora.b"],
        alpha=config.alpha,
        final_loss=losses[-1],
        epochs_run=len(losses),
        losses=tuple(losses),
    )


def objective_gradients(
    kernels: LearningKernels,
    config: LoRAConfig,
    queries: np.ndarray,
    targets: np.ndarray,
    weights: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
) -> tuple[float, np.ndarray, np.ndarray]:
    """The configured objective on one batch of pairs, and its gradients for A and B."""
    if config.objective == "mse":
        return kernels.lora_gradients(queries, targets, weights, a, b, config.scale)
    loss, grad_adapted = _infonce_output_gradient(kernels, config, queries, targets, weights, a, b)
    projected = queries @ a
    return loss, config.scale * queries.T @ (grad_adapted @ b.T), config.scale * projected.T @ grad_adapted


def infonce_row_gradients(
    kernels: LearningKernels, config: LoRAConfig, queries: np.ndarray, targets: np.ndarray, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """Each pair's own InfoNCE gradient with respect to its adapted query, batch by batch
    in order (the negatives training saw): what an empirical Fisher squares."""
    rows = np.empty_like(queries)
    for start in range(0, len(queries), config.batch_size):
        part = slice(start, start + config.batch_size)
        count = len(queries[part])
        _, grad = _infonce_output_gradient(kernels, config, queries[part], targets[part], np.ones(count), a, b)
        rows[part] = grad * count  # undo the batch mean: one pair's gradient each
    return rows


def _infonce_output_gradient(
    kernels: LearningKernels,
    config: LoRAConfig,
    queries: np.ndarray,
    targets: np.ndarray,
    weights: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
) -> tuple[float, np.ndarray]:
    """InfoNCE with in-batch negatives: several queries of one target share that row, so a
    target is never its own query's negative."""
    slot_of: dict[bytes, int] = {}
    positives = np.array([slot_of.setdefault(row.tobytes(), len(slot_of)) for row in targets])
    _, first_rows = np.unique(positives, return_index=True)
    distinct = targets[first_rows]
    norms = np.maximum(np.linalg.norm(distinct, axis=1, keepdims=True), 1e-12)
    adapted = queries + config.scale * (queries @ a) @ b
    return kernels.infonce_gradients(adapted, distinct / norms, positives, weights, config.temperature)


def _preserve_gradient(anchors: np.ndarray, params: dict[str, np.ndarray], config: LoRAConfig) -> dict[str, np.ndarray]:
    """Gradient of ``preserve * mean |s x A B|^2`` over the anchor rows."""
    projected = anchors @ params["lora.a"]
    moved = config.scale * projected @ params["lora.b"]
    factor = 2.0 * config.preserve * config.scale / len(anchors)
    return {
        "lora.a": factor * anchors.T @ (moved @ params["lora.b"].T),
        "lora.b": factor * projected.T @ moved,
    }


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
