"""Typed configurations and results that cross the public API.

A bad value is a pydantic ``ValidationError`` naming the field at construction, so nothing
malformed ever reaches a compiled kernel.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

Metric = Literal["cosine", "euclidean", "dot"]
Capability = Literal["vector_ops", "hnsw", "embeddings", "learning"]
QuantizationKind = Literal["int8", "binary"]
StorageKind = Literal["float32", "int8", "binary"]
FloatsPlacement = Literal["resident", "none"]

CAPABILITIES: tuple[Capability, ...] = ("vector_ops", "hnsw", "embeddings", "learning")

# The numbers every implementation shares. The Rust kernels define the same ones
# (crates/ruvector-kernels/src/hnsw.rs); tests/test_contract_constants.py reads both and
# fails when they differ, so these are the only Python definitions.
MAX_DIMENSIONS = 65_536
MIN_M = 2
MAX_M = 256
MAX_EF = 100_000
SEED_LIMIT = 2**63  # seeds are below this: they fit a signed 64-bit integer
MAX_LEVEL = 63  # the highest graph layer the index format stores
# The largest magnitude a stored vector component may have: 2**54, so that with up to
# 2**16 dimensions every squared norm and dot product stays below 2**124 and every squared
# Euclidean distance below 2**126, far inside float32's 2**128.
MAX_COMPONENT = float(2**54)
#: a metric's code in the index format and across the native and wasm boundaries
METRIC_CODES: dict[Metric, int] = {"cosine": 0, "euclidean": 1, "dot": 2}
METRICS_BY_CODE: dict[int, Metric] = {code: metric for metric, code in METRIC_CODES.items()}

BackendName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_\-]{0,63}$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HnswConfig(_Frozen):
    """Parameters of an HNSW index (Malkov & Yashunin, 2018).

    ``m`` bounds the links per node on upper layers; layer 0 keeps up to ``2 * m``, as in
    the paper and hnswlib. ``seed`` fixes the level draws, so builds are reproducible.

    ``storage`` is what the graph is built and searched on: ``float32`` vectors, ``int8``
    codes (one byte per dimension plus a scale and offset per vector, searched with a float
    query against the codes) or ``binary`` sign bits (one bit per dimension plus a scale,
    searched by Hamming distance). ``floats`` says whether the float32 vectors are kept
    beside the codes (in memory and in the saved index) to score the final candidates
    exactly (``resident``), or not at all (``none``: smaller, and the returned scores are
    the codes' approximations). A float32 index always keeps its floats.
    """

    dimensions: int = Field(gt=0, le=MAX_DIMENSIONS)
    m: int = Field(default=16, ge=MIN_M, le=MAX_M)
    ef_construction: int = Field(default=100, ge=1, le=MAX_EF)
    ef_search: int = Field(default=50, ge=1, le=MAX_EF)
    metric: Metric = "cosine"
    seed: int = Field(default=0, ge=0, lt=SEED_LIMIT)
    storage: StorageKind = "float32"
    floats: FloatsPlacement = "resident"

    @model_validator(mode="after")
    def _float32_keeps_its_floats(self) -> HnswConfig:
        if self.storage == "float32" and self.floats != "resident":
            raise ValueError('floats="none" needs storage="int8" or "binary": a float32 index is its floats')
        return self

    @property
    def quantized(self) -> bool:
        """Whether the graph is built and searched on codes rather than float32 vectors."""
        return self.storage != "float32"

    @property
    def max_links_layer0(self) -> int:
        return 2 * self.m

    @property
    def level_multiplier(self) -> float:
        """mL = 1 / ln(M): the paper's choice that makes layer sizes shrink by a factor M."""
        return 1.0 / math.log(self.m)


class QuantizationConfig(_Frozen):
    """How to compress float32 vectors.

    ``int8``: each vector is mapped affinely onto 256 levels between its own minimum and
    maximum; every component is recovered within ``scale / 2`` where
    ``scale = (max - min) / 255`` (4x smaller). ``binary``: one sign bit per component plus
    the vector's mean absolute value; signs are kept exactly (32x smaller).
    """

    kind: QuantizationKind = "int8"


class QuantizedVectors(BaseModel):
    """Codes plus the per-vector parameters needed to reconstruct them.

    Validated once, here, whoever builds it (a backend's ``quantize`` or a caller loading
    codes from disk), so ``dequantize`` implementations receive consistent arrays and never
    re-check them: ``int8`` codes are C-contiguous int8 of shape (n, dimensions); ``binary``
    codes are C-contiguous uint8 of shape (n, ceil(dimensions / 8)); ``scales`` and
    ``offsets`` are finite C-contiguous float32 of shape (n,).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    kind: QuantizationKind
    dimensions: int = Field(gt=0, le=MAX_DIMENSIONS)
    codes: np.ndarray
    scales: np.ndarray
    offsets: np.ndarray

    @field_validator("codes", "scales", "offsets", mode="before")
    @classmethod
    def _must_be_array(cls, value: object) -> np.ndarray:
        if not isinstance(value, np.ndarray):
            raise ValueError(f"expected a numpy array, got {type(value).__name__}")
        return np.ascontiguousarray(value)

    @field_validator("scales", "offsets")
    @classmethod
    def _finite_float32_rows(cls, value: np.ndarray) -> np.ndarray:
        if value.ndim != 1 or not np.issubdtype(value.dtype, np.floating):
            raise ValueError(f"expected a one-dimensional float array, got {value.dtype} of shape {value.shape}")
        array = np.ascontiguousarray(value, dtype=np.float32)
        if not np.isfinite(array).all():
            raise ValueError("contains NaN or infinity")
        return array

    @model_validator(mode="after")
    def _consistent(self) -> QuantizedVectors:
        dtype, width = (np.uint8, (self.dimensions + 7) // 8) if self.kind == "binary" else (np.int8, self.dimensions)
        codes = self.codes
        if codes.dtype != dtype or codes.ndim != 2 or codes.shape[1] != width:
            raise ValueError(
                f"{self.kind} codes of {self.dimensions} dimensions must be {np.dtype(dtype)} of shape (n, {width}),"
                f" got {codes.dtype} of shape {codes.shape}"
            )
        n = codes.shape[0]
        if self.scales.shape != (n,) or self.offsets.shape != (n,):
            raise ValueError(
                f"scales and offsets need one entry per row ({n}),"
                f" got {self.scales.shape[0]} and {self.offsets.shape[0]}"
            )
        return self

    @property
    def count(self) -> int:
        return int(self.codes.shape[0])

    @property
    def nbytes(self) -> int:
        return int(self.codes.nbytes + self.scales.nbytes + self.offsets.nbytes)


class SearchResult(_Frozen):
    """One hit: ``score`` is a similarity, higher is better.

    Cosine similarity for ``cosine``, the dot product for ``dot`` and the negated Euclidean
    distance for ``euclidean``, so one threshold means one thing across metrics.
    """

    id: str
    score: float


class IndexStats(_Frozen):
    backend: str
    dimensions: int
    metric: Metric
    m: int
    ef_construction: int
    ef_search: int
    count: int = Field(description="live (not deleted) vectors")
    deleted: int = Field(description="deleted nodes still kept in the graph as waypoints")
    max_level: int = Field(description="top layer of the graph, -1 when empty")
    nodes_per_level: list[int]
    memory_bytes: int = Field(
        description="what the process holds for the index (its arrays, resident pages, Python objects), "
        "within 25 % of the resident memory it adds"
    )


Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class EmbedderConfig(_Frozen):
    """Which model to run and how.

    ``model`` is a known name (``all-MiniLM-L6-v2``), a local folder holding ``model.onnx``
    and ``tokenizer.json``, a local ``.onnx`` file with ``tokenizer.json`` beside it, or an
    ``http(s)://`` or ``file://`` URL of an ``.onnx`` file; ``tokenizer`` overrides where
    ``tokenizer.json`` comes from. Downloads are checked against ``sha256`` /
    ``tokenizer_sha256`` when given and cached under ``cache_dir`` (default: the user cache
    directory, e.g. ``~/.cache/ruvector/models``); a model pinned by ``sha256`` whose
    tokenizer is downloaded over http(s) needs ``tokenizer_sha256`` too.
    ``precision="fp32"`` runs the float weights, which only the known models ship, on every
    embedding backend.
    """

    model: str = "all-MiniLM-L6-v2"
    tokenizer: str | None = None
    sha256: Sha256 | None = None
    tokenizer_sha256: Sha256 | None = None
    max_length: int = Field(default=256, ge=1, le=8192)
    batch_size: int = Field(default=32, ge=1, le=4096)
    threads: int | None = Field(default=None, ge=1, le=1024)
    cache_dir: str | None = None
    progress: bool = Field(default=True, description="show a progress bar while downloading")
    precision: Literal["int8", "fp32"] = Field(
        default="int8",
        description="int8: the model's int8 weights (the default model's ONNX file); fp32: its float weights "
        "(the default model's model.safetensors), for vectors that match sentence-transformers' own",
    )


class BackendSpec(_Frozen):
    """What a backend declares through its ``ruvector.backends`` entry point.

    It must be cheap to import: the runtime reads every installed backend's spec at start-up
    and imports ``plugin`` (the module holding the hook implementations) only when one of
    the declared capabilities is first asked for.
    """

    name: BackendName
    version: str
    priority: int
    capabilities: frozenset[Capability]
    plugin: str = Field(description="dotted path of the module with the hook implementations")
    description: str = ""
    capability_priority: dict[Capability, int] = Field(
        default_factory=dict,
        description="the backend's rank for a capability where it differs from ``priority`` (a backend "
        "that is the fastest index need not be the default embedder)",
    )

    def priority_for(self, capability: Capability | None) -> int:
        """The backend's rank for ``capability`` (``priority`` unless declared otherwise)."""
        return self.capability_priority.get(capability, self.priority) if capability else self.priority


class BackendInfo(_Frozen):
    """A backend's status as the runtime sees it: what ``ruvector backends`` prints."""

    name: str
    version: str
    priority: int
    capabilities: list[Capability]
    usable: bool
    reason: str | None = None
    loaded: bool = False
    entry_point: str | None = None

    @classmethod
    def from_spec(cls, spec: BackendSpec, unusable_because: str | None = None) -> BackendInfo:
        """What a ``ruvector_backend_info`` hook returns: the spec's fields, and a reason
        when the backend cannot run here (which makes it unusable)."""
        return cls(
            name=spec.name,
            version=spec.version,
            priority=spec.priority,
            capabilities=sorted(spec.capabilities),
            usable=unusable_because is None,
            reason=unusable_because,
        )
