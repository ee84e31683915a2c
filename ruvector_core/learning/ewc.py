"""Elastic weight consolidation (Kirkpatrick et al., 2017) with online Fisher merging.

The penalty ``lambda / 2 * sum F (theta - theta*)^2`` makes parameters that carried an
earlier task (large Fisher information F) expensive to move from their values theta*.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import InvalidInputError
from .models import FisherMatrix, LoRAWeights, ModelWeights, Trajectory
from .pairs import training_pairs


def fisher_from_gradients(per_sample: Mapping[str, np.ndarray], anchor: ModelWeights) -> FisherMatrix:
    """Diagonal empirical Fisher F = mean(g^2) from per-sample gradients (n, *shape)."""
    samples = {int(g.shape[0]) for g in per_sample.values()}
    if len(samples) != 1 or set(per_sample) != set(anchor.tensors):
        raise InvalidInputError("per-sample gradients must cover every anchor tensor with one sample count")
    diagonal = {name: (np.asarray(g, dtype=np.float64) ** 2).mean(axis=0) for name, g in per_sample.items()}
    return FisherMatrix(diagonal=ModelWeights(tensors=diagonal), anchor=anchor, samples=samples.pop())


def lora_fisher(lora: LoRAWeights, trajectories: Sequence[Trajectory]) -> FisherMatrix:
    """Fisher of an adapter on a task: E[g^2] of the log-likelihood gradient under a
    unit-variance Gaussian model of the adapted query, averaged over the task's positive
    queries. For y = x + s x A B this is s^2 (x A)_j^2 for B[j, k] and
    s^2 x_a^2 sum_k B[j, k]^2 for A[a, j], computed exactly rather than sampled."""
    queries, _, weights = training_pairs(trajectories)
    w = (weights / weights.sum())[:, None]
    projected_sq = (queries @ lora.a) ** 2  # (n, r)
    fisher_b = lora.scale**2 * np.broadcast_to((w * projected_sq).sum(axis=0)[:, None], lora.b.shape)
    fisher_a = lora.scale**2 * np.outer((w * queries**2).sum(axis=0), (lora.b.astype(np.float64) ** 2).sum(axis=1))
    return FisherMatrix(
        diagonal=ModelWeights(tensors={"lora.a": fisher_a, "lora.b": fisher_b}),
        anchor=lora.as_model_weights(),
        samples=len(queries),
    )


def fisher_from_output_gradients(lora: LoRAWeights, queries: np.ndarray, output_gradients: np.ndarray) -> FisherMatrix:
    """Empirical Fisher F = mean(g^2) of an adapter from each sample's loss gradient with
    respect to its adapted query, without forming per-sample parameter gradients: for
    y = x + s x A B, sample i's gradient is s x_i^T (g_i B^T) for A and s (x_i A)^T g_i for B,
    so their squares average to s^2 (x^2)^T (g B^T)^2 / n and s^2 ((x A)^2)^T g^2 / n."""
    queries = np.asarray(queries, dtype=np.float64)
    grads = np.asarray(output_gradients, dtype=np.float64)
    if queries.shape != grads.shape or queries.ndim != 2 or queries.shape[1] != lora.dimensions:
        raise InvalidInputError("queries and their output gradients must be (n, d) of the adapter's dimension")
    n = len(queries)
    fisher_a = lora.scale**2 * (queries**2).T @ ((grads @ lora.b.astype(np.float64).T) ** 2) / n
    fisher_b = lora.scale**2 * ((queries @ lora.a) ** 2).T @ (grads**2) / n
    return FisherMatrix(
        diagonal=ModelWeights(tensors={"lora.a": fisher_a, "lora.b": fisher_b}),
        anchor=lora.as_model_weights(),
        samples=n,
    )


def merge_fisher(old: FisherMatrix, new: FisherMatrix, decay: float = 0.9) -> FisherMatrix:
    """Online EWC: F = decay * F_old + F_new, anchored at the newest parameters, so older
    tasks fade geometrically instead of piling up one penalty each."""
    if not 0.0 <= decay <= 1.0:
        raise InvalidInputError(f"decay must lie in [0, 1], got {decay}")
    diagonal = {
        name: decay * old.diagonal.tensors[name].astype(np.float64) + new.diagonal.tensors[name]
        for name in new.diagonal.tensors
    }
    return FisherMatrix(diagonal=ModelWeights(tensors=diagonal), anchor=new.anchor, samples=old.samples + new.samples)


def ewc_penalty(weights: ModelWeights, fisher: FisherMatrix, lam: float) -> float:
    return float(
        lam
        / 2.0
        * sum(
            (
                fisher.diagonal.tensors[n].astype(np.float64) * (t.astype(np.float64) - fisher.anchor.tensors[n]) ** 2
            ).sum()
            for n, t in weights.tensors.items()
        )
    )


def penalty_gradient(params: Mapping[str, np.ndarray], fisher: FisherMatrix, lam: float) -> dict[str, np.ndarray]:
    """d/dtheta of the penalty: lambda F (theta - theta*)."""
    return {
        name: lam * fisher.diagonal.tensors[name] * (value - fisher.anchor.tensors[name])
        for name, value in params.items()
    }


def apply_ewc(weights: ModelWeights, fisher: FisherMatrix, lam: float, step: float = 1.0) -> ModelWeights:
    """One bounded constraint step toward the anchor: theta - min(1, step lambda F) (theta - theta*).

    The factor is clipped at 1, so a parameter moves at most all the way back to theta*
    and never past it, however large lambda or F are."""
    if lam < 0 or step < 0:
        raise InvalidInputError("lambda and step must be non-negative")
    pulled = {}
    for name, value in weights.tensors.items():
        anchor = fisher.anchor.tensors[name].astype(np.float64)
        factor = np.minimum(1.0, step * lam * fisher.diagonal.tensors[name].astype(np.float64))
        pulled[name] = value - factor * (value.astype(np.float64) - anchor)
    return ModelWeights(tensors=pulled)
