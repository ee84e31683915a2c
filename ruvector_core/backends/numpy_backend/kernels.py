"""Reference vector kernels: float32 inputs, float64 accumulation where it is cheap."""

from __future__ import annotations

import numpy as np

from ... import quantization
from ...models import Metric, QuantizationConfig, QuantizedVectors


class NumpyKernels:
    def distance(self, a: np.ndarray, b: np.ndarray, metric: Metric) -> float:
        return float(self.batch_distance(a, b[None, :], metric)[0])

    def batch_distance(self, query: np.ndarray, matrix: np.ndarray, metric: Metric) -> np.ndarray:
        with np.errstate(invalid="ignore", over="ignore"):  # NaN in, NaN out: see VectorOps
            return self._batch_distance(query, matrix, metric)

    def _batch_distance(self, query: np.ndarray, matrix: np.ndarray, metric: Metric) -> np.ndarray:
        distances: np.ndarray
        if metric == "euclidean":
            diff = matrix - query
            distances = np.sqrt(np.einsum("ij,ij->i", diff, diff))
            return distances.astype(np.float32)
        dots: np.ndarray = matrix @ query
        if metric == "dot":
            return (-dots).astype(np.float32)
        norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(query)
        # only an exactly zero norm is special: NaN must reach the result (see VectorOps)
        cosines: np.ndarray = np.divide(dots, norms, out=np.zeros_like(dots), where=norms != 0)
        return (1.0 - cosines).astype(np.float32)

    def normalize(self, matrix: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        unit: np.ndarray = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
        return unit

    def quantize(self, matrix: np.ndarray, config: QuantizationConfig) -> QuantizedVectors:
        return quantization.quantize(matrix, config.kind)

    def dequantize(self, quantized: QuantizedVectors) -> np.ndarray:
        return quantization.dequantize(quantized)


class NumpyLearningKernels:
    def pattern_similarities(self, query: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
        similarities: np.ndarray = embeddings @ query
        return similarities.astype(np.float32)

    def lora_gradients(
        self, queries: np.ndarray, targets: np.ndarray, weights: np.ndarray, a: np.ndarray, b: np.ndarray, scale: float
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """Weighted mean squared error of ``x + scale x A B`` against the targets, and its
        gradients with respect to A and B (the reference every other backend is held to)."""
        projected = queries @ a  # (n, r)
        residual = queries + scale * projected @ b - targets  # (n, d)
        weighted = residual * (weights / weights.sum())[:, None]
        loss = float((weighted * residual).sum())
        grad_b = 2.0 * scale * projected.T @ weighted
        grad_a = 2.0 * scale * queries.T @ (weighted @ b.T)
        return loss, grad_a, grad_b

    def infonce_gradients(
        self, adapted: np.ndarray, targets: np.ndarray, positives: np.ndarray, weights: np.ndarray, temperature: float
    ) -> tuple[float, np.ndarray]:
        """Weighted InfoNCE loss of adapted queries (normalised here) against unit targets,
        row ``i``'s positive being ``targets[positives[i]]`` and every other row a negative,
        and its gradient with respect to the adapted queries (before normalisation)."""
        norms = np.maximum(np.linalg.norm(adapted, axis=1, keepdims=True), 1e-12)
        unit = adapted / norms
        logits = unit @ targets.T / temperature
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        share = weights / weights.sum()
        rows = np.arange(len(adapted))
        loss = float(-(share * np.log(np.maximum(probabilities[rows, positives], 1e-300))).sum())
        probabilities[rows, positives] -= 1.0
        grad_unit = (probabilities * (share / temperature)[:, None]) @ targets
        grad = (grad_unit - unit * (grad_unit * unit).sum(axis=1, keepdims=True)) / norms
        return loss, grad
