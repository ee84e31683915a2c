"""Typed records of the learning system (its formulas: docs/architecture.md, "Learning")."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..models import MAX_DIMENSIONS

INACTIVE_AFTER_USES = 10
INACTIVE_BELOW_SUCCESS_RATE = 0.3


class _Arrays(BaseModel):
    """Models holding numpy arrays: float32, finite, copied so callers cannot mutate them."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    @field_validator("*", mode="before")
    @classmethod
    def _as_float32(cls, value: Any, info: Any) -> Any:
        field = cls.model_fields[info.field_name]
        if field.annotation is np.ndarray:
            array = np.array(value, dtype=np.float32)
            if not np.isfinite(array).all():
                raise ValueError("contains NaN or infinity")
            array.setflags(write=False)
            return array
        return value


class Trajectory(_Arrays):
    """One interaction: what was asked, what answered it, and whether that worked.

    ``target`` is the embedding of the response or document that served the query;
    ``reward`` in [-1, 1] weighs it (positive trajectories have reward > 0).
    """

    query: np.ndarray
    target: np.ndarray
    reward: float = Field(default=1.0, ge=-1.0, le=1.0)
    verdict: Literal["success", "failure", "unknown"] = "unknown"
    steps: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _same_shape(self) -> Trajectory:
        if self.query.ndim != 1 or self.query.shape != self.target.shape or not 0 < self.query.size <= MAX_DIMENSIONS:
            raise ValueError(
                f"query and target must be vectors of one length, got {self.query.shape} and {self.target.shape}"
            )
        return self

    @property
    def positive(self) -> bool:
        return self.verdict == "success" or (self.verdict == "unknown" and self.reward > 0)


class Pattern(_Arrays):
    """A reusable lesson: a centroid of successful trajectories plus how well it did since.

    The embedding is stored at unit length (matching is by cosine similarity, so only its
    direction matters), which lets matching skip normalising thousands of rows per query."""

    id: str
    embedding: np.ndarray
    metadata: dict[str, Any] = Field(default_factory=dict)
    uses: int = Field(default=0, ge=0)
    successes: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> Pattern:
        if self.successes > self.uses:
            raise ValueError("successes cannot exceed uses")
        if self.embedding.ndim != 1 or not 0 < self.embedding.size <= MAX_DIMENSIONS:
            raise ValueError("embedding must be a non-empty vector")
        norm = float(np.linalg.norm(self.embedding.astype(np.float64)))
        if norm == 0.0:
            raise ValueError("embedding must not be the zero vector")
        if abs(norm - 1.0) > 1e-6:
            unit = (self.embedding / norm).astype(np.float32)
            unit.setflags(write=False)
            object.__setattr__(self, "embedding", unit)
        return self

    @property
    def confidence(self) -> float:
        """(successes + 1) / (uses + 2): Laplace's rule, 0.5 for a new pattern."""
        return (self.successes + 1) / (self.uses + 2)

    @property
    def active(self) -> bool:
        """Inactive once used more than 10 times with a success rate under 0.3."""
        return not (self.uses > INACTIVE_AFTER_USES and self.successes / self.uses < INACTIVE_BELOW_SUCCESS_RATE)

    def with_feedback(self, success: bool) -> Pattern:
        return self.model_copy(update={"uses": self.uses + 1, "successes": self.successes + int(success)})


class PatternMatch(BaseModel):
    model_config = ConfigDict(frozen=True)

    pattern: Pattern
    similarity: float
    score: float = Field(description="similarity * confidence, the ranking key")


class LoRAConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rank: int = Field(default=8, ge=1, le=64)
    alpha: float = Field(default=16.0, gt=0)
    learning_rate: float = Field(default=1e-2, gt=0, le=10)
    epochs: int = Field(default=200, ge=1, le=100_000)
    batch_size: int = Field(default=64, ge=1)
    target_loss: float = Field(default=1e-4, ge=0, description="stop early once the epoch loss is below this")
    seed: int = Field(default=0, ge=0)
    objective: Literal["mse", "infonce"] = Field(
        default="mse",
        description="mse: squared error between adapted query and target; infonce: a ranking loss, each "
        "query's target against the other targets of its batch (in-batch negatives)",
    )
    temperature: float = Field(default=0.05, gt=0, le=10, description="InfoNCE's softmax temperature")
    preserve: float = Field(
        default=0.0,
        ge=0,
        description="weight of a penalty on how far the adapter moves the anchor vectors given to training: "
        "keeps queries unlike the training ones where they were",
    )

    @property
    def scale(self) -> float:
        return self.alpha / self.rank


class ModelWeights(_Arrays):
    """Named parameter arrays: what EWC constrains."""

    tensors: dict[str, np.ndarray]

    @field_validator("tensors", mode="before")
    @classmethod
    def _freeze(cls, value: dict[str, Any]) -> dict[str, np.ndarray]:
        frozen = {}
        for name, tensor in value.items():
            array = np.array(tensor, dtype=np.float32)
            if not np.isfinite(array).all():
                raise ValueError(f"tensor {name!r} contains NaN or infinity")
            array.setflags(write=False)
            frozen[name] = array
        return frozen


class LoRAWeights(_Arrays):
    """x -> x + (alpha / r) x A B, with A of shape (d, r) and B of shape (r, d)."""

    a: np.ndarray
    b: np.ndarray
    alpha: float = Field(gt=0)
    final_loss: float | None = None
    epochs_run: int = 0
    losses: tuple[float, ...] = Field(default=(), description="the training loss after each epoch")

    @model_validator(mode="after")
    def _shapes(self) -> LoRAWeights:
        d, r = self.a.shape if self.a.ndim == 2 else (0, 0)
        if self.a.ndim != 2 or self.b.shape != (r, d) or not (1 <= r <= 64):
            raise ValueError(f"A must be (d, r) and B (r, d) with 1 <= r <= 64, got {self.a.shape} and {self.b.shape}")
        return self

    @property
    def rank(self) -> int:
        return int(self.a.shape[1])

    @property
    def dimensions(self) -> int:
        return int(self.a.shape[0])

    @property
    def scale(self) -> float:
        return self.alpha / self.rank

    def delta(self) -> np.ndarray:
        """(alpha / r) A B: what merging adds to a weight matrix."""
        delta: np.ndarray = (self.scale * (self.a.astype(np.float64) @ self.b)).astype(np.float32)
        return delta

    def as_model_weights(self) -> ModelWeights:
        return ModelWeights(tensors={"lora.a": self.a, "lora.b": self.b})

    def with_tensors(self, weights: ModelWeights) -> LoRAWeights:
        return self.model_copy(update={"a": weights.tensors["lora.a"], "b": weights.tensors["lora.b"]})


class FisherMatrix(_Arrays):
    """Diagonal Fisher information per parameter, with the parameters it was measured at."""

    diagonal: ModelWeights
    anchor: ModelWeights
    samples: int = Field(ge=1)

    @model_validator(mode="after")
    def _aligned(self) -> FisherMatrix:
        for name, tensor in self.anchor.tensors.items():
            if name not in self.diagonal.tensors or self.diagonal.tensors[name].shape != tensor.shape:
                raise ValueError(f"Fisher diagonal and anchor disagree on {name!r}")
        if any(np.any(t < 0) for t in self.diagonal.tensors.values()):
            raise ValueError("a Fisher diagonal is never negative")
        return self
