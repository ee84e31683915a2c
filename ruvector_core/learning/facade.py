"""``rt.learning``: patterns, LoRA adapters and EWC, on the serving backend's kernels."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ..protocols import LearningKernels
from ..runtime import Runtime
from ..validation import as_vector, check_k
from . import ewc, lora, patterns
from .library import PatternLibrary
from .models import FisherMatrix, LoRAConfig, LoRAWeights, Pattern, PatternMatch, Trajectory
from .pairs import training_pairs
from .persistence import load_lora, load_patterns, save_lora, save_patterns


class Learning:
    """The learning module; its formulas are in docs/architecture.md."""

    create_pattern = staticmethod(patterns.create_pattern)
    adapt = staticmethod(lora.adapt)
    merge = staticmethod(lora.merge)
    lora_fisher = staticmethod(ewc.lora_fisher)
    fisher_from_gradients = staticmethod(ewc.fisher_from_gradients)
    merge_fisher = staticmethod(ewc.merge_fisher)
    apply_ewc = staticmethod(ewc.apply_ewc)
    ewc_penalty = staticmethod(ewc.ewc_penalty)
    save_patterns = staticmethod(save_patterns)
    load_patterns = staticmethod(load_patterns)
    save_lora = staticmethod(save_lora)
    load_lora = staticmethod(load_lora)

    def __init__(self, kernels: LearningKernels, backend: str, runtime: Runtime) -> None:
        self.kernels = kernels
        self.backend = backend
        self.runtime = runtime

    def similarities(self, query: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
        """Cosine similarity of ``query`` to rows that are already unit length."""
        norm = float(np.linalg.norm(query))
        return self.kernels.pattern_similarities((query / norm if norm else query).astype(np.float32), embeddings)

    def patterns_from_trajectories(
        self, trajectories: Sequence[Trajectory], clusters: int, min_cluster_size: int = 3, seed: int = 0
    ) -> list[Pattern]:
        return patterns.patterns_from_trajectories(trajectories, clusters, min_cluster_size, seed)

    def match_patterns(
        self, query: Any, candidates: Sequence[Pattern], threshold: float = patterns.DEFAULT_THRESHOLD, k: int = 5
    ) -> list[PatternMatch]:
        """Active patterns with similarity >= threshold, ranked by similarity * confidence.
        For repeated matching over many patterns, a ``pattern_library`` avoids restacking."""
        if not candidates:
            return []
        query = as_vector(query, candidates[0].embedding.shape[0], "query")
        try:  # Pattern embeddings are finite and unit length by construction
            matrix = np.stack([p.embedding for p in candidates])
        except ValueError:
            raise InvalidInputError("patterns of different dimensions cannot be matched together") from None
        return patterns.rank_matches(self.similarities(query, matrix), candidates, threshold, check_k(k))

    def pattern_library(self, initial: Iterable[Pattern] = (), hnsw_above: int = 20_000) -> PatternLibrary:
        return PatternLibrary(self.similarities, self.runtime.hnsw, initial, hnsw_above)

    def train_lora(
        self,
        trajectories: Sequence[Trajectory],
        config: LoRAConfig | None = None,
        start: LoRAWeights | None = None,
        ewc: FisherMatrix | None = None,
        ewc_lambda: float = 0.0,
        anchors: np.ndarray | None = None,
    ) -> LoRAWeights:
        return lora.train_lora(
            trajectories, config or LoRAConfig(), start, ewc, ewc_lambda, anchors, kernels=self.kernels
        )

    def objective_fisher(
        self, adapter: LoRAWeights, trajectories: Sequence[Trajectory], config: LoRAConfig
    ) -> FisherMatrix:
        """The Fisher information of ``adapter`` under the objective it was trained with."""
        if config.objective == "mse":
            return ewc.lora_fisher(adapter, trajectories)
        queries, targets, _ = training_pairs(trajectories)
        a, b = adapter.a.astype(np.float64), adapter.b.astype(np.float64)
        grads = lora.infonce_row_gradients(self.kernels, config, queries, targets, a, b)
        return ewc.fisher_from_output_gradients(adapter, queries, grads)
