"""The suite's real-embedding data and exact ground truth."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import TypedDict

import numpy as np
from numpy.typing import NDArray

from ruvector_core.models import Metric

QUERY_ROWS = 200


@dataclass(frozen=True)
class Corpus:
    queries: np.ndarray  # (200, 384) float32, unit norm
    base: np.ndarray  # (3000, 384) float32, unit norm
    ids: list[str]  # one id per base row

    def exact_top_k(self, k: int, metric: Metric = "cosine", base: np.ndarray | None = None) -> NDArray[np.intp]:
        """Indices of the exact k nearest base rows per query, computed in float64."""
        return exact_top_k(self.queries, self.base if base is None else base, k, metric)


class MiniLMReference(TypedDict):
    """``minilm_reference.json``: the original all-MiniLM-L6-v2's fp32 embeddings of ``texts``."""

    model: str
    pooling: str
    normalized: bool
    max_length: int
    texts: list[str]
    embeddings: list[list[float]]


@cache
def corpus() -> Corpus:
    with (files(__package__) / "data" / "stdlib_minilm_3200_f16.npy").open("rb") as stored:
        embeddings = np.load(stored).astype(np.float32)
    base = embeddings[QUERY_ROWS:]
    return Corpus(queries=embeddings[:QUERY_ROWS], base=base, ids=[f"doc-{i}" for i in range(len(base))])


def passages() -> list[str]:
    """The texts of the rows of ``corpus()``: queries first, then the base."""
    texts: list[str] = json.loads((files(__package__) / "data" / "stdlib_passages_3200.json").read_text("utf-8"))
    return texts


def minilm_reference() -> MiniLMReference:
    """Texts and fp32 reference embeddings of the original all-MiniLM-L6-v2."""
    reference: MiniLMReference = json.loads((files(__package__) / "data" / "minilm_reference.json").read_text("utf-8"))
    return reference


def similarities(queries: np.ndarray, base: np.ndarray, metric: Metric) -> NDArray[np.float64]:
    """Exact similarity (higher is better) in float64, as the index reports scores."""
    q = queries.astype(np.float64)
    b = base.astype(np.float64)
    if metric == "cosine":
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        b /= np.linalg.norm(b, axis=1, keepdims=True)
        return q @ b.T
    if metric == "dot":
        return q @ b.T
    sq: NDArray[np.float64] = (q * q).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * q @ b.T
    return -np.sqrt(np.maximum(sq, 0.0))


def exact_top_k(queries: np.ndarray, base: np.ndarray, k: int, metric: Metric) -> NDArray[np.intp]:
    sims = similarities(queries, base, metric)
    return np.argsort(-sims, axis=1, kind="stable")[:, :k]


def recall(found_ids: np.ndarray, truth_rows: np.ndarray, ids: list[str]) -> float:
    """Mean fraction of the exact neighbours that the index returned."""
    hits = 0
    for found, truth in zip(found_ids, truth_rows, strict=True):
        hits += len({f for f in found if f is not None} & {ids[t] for t in truth})
    return hits / truth_rows.size
