"""The benchmark's data: the stdlib docstring corpus embedded by our own embedder, cached.

The first run embeds the corpus (``ruvector_core.corpus``, 11,700 passages on CPython
3.11.7) with ``rt.embedder()`` and stores the matrix as ``.npy`` in the user cache dir
(``<platformdirs user cache>/ruvector/bench``, or ``$RUVECTOR_CACHE_DIR/bench``), named by
the model's sha256 and the corpus's sha256, so a new model or another Python's stdlib gets
its own file. The passages themselves are cached as JSON keyed by the interpreter, because
walking the stdlib takes seconds. A user's own ``.npy`` of embeddings (``--data``) replaces
the corpus.

Queries are the first rows, the base the rows after them; the exact neighbours come from
brute force in float64.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import platformdirs

from ruvector_core import corpus
from ruvector_core.atomic import write_atomically
from ruvector_core.corpus import stdlib_passages, stdlib_root
from ruvector_core.errors import InvalidInputError
from ruvector_core.models import EmbedderConfig

SHORT_SENTENCE_WORDS = (6, 14)


def cache_root() -> Path:
    root = os.environ.get("RUVECTOR_CACHE_DIR") or platformdirs.user_cache_dir("ruvector")
    return Path(root).expanduser() / "bench"


def sha256_text(texts: list[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def passages_path(cache: Path | None = None) -> Path:
    """Where this interpreter's corpus is cached (keyed by version, stdlib path, corpus.py)."""
    source = Path(corpus.__file__)
    fingerprint = hashlib.sha256(f"{sys.version}\0{stdlib_root()}\0".encode() + source.read_bytes()).hexdigest()[:16]
    return (cache or cache_root()) / f"passages-{fingerprint}.json"


def corpus_texts(cache: Path | None = None) -> list[str]:
    """The stdlib docstring passages, in corpus order (cached per interpreter)."""
    path = passages_path(cache)
    if path.is_file():
        try:
            cached = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            cached = None  # a damaged cache file is rebuilt
        if isinstance(cached, list) and all(isinstance(text, str) for text in cached):
            return cached
    texts = [text for _, text in stdlib_passages()]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(texts).encode("utf-8"))
    return texts


def model_sha256(config: EmbedderConfig | None = None) -> str:
    """sha256 over the model's ONNX file and tokenizer.json: what the cache is keyed by."""
    from ruvector_textmodel.modelfiles import resolve

    model = resolve(config or EmbedderConfig(progress=False))
    digest = hashlib.sha256()
    with open(model.onnx, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    digest.update(model.tokenizer_json.encode("utf-8"))
    return digest.hexdigest()


def embeddings_path(model_sha: str, corpus_sha: str, cache: Path | None = None) -> Path:
    return (cache or cache_root()) / f"stdlib-{corpus_sha[:16]}-{model_sha[:16]}.npy"


@dataclass(frozen=True)
class Embeddings:
    vectors: np.ndarray  # (rows, d) float32, unit norm
    texts: list[str] | None  # the passages the rows embed; None for a user's file
    source: str  # "cache", "embedded" or "fixture"
    description: str
    corpus_sha: str | None = None
    model_sha: str | None = None


def cached_embeddings(model_sha: str, texts: list[str], cache: Path | None = None) -> np.ndarray | None:
    path = embeddings_path(model_sha, sha256_text(texts), cache)
    if not path.is_file():
        return None
    try:
        vectors = np.load(path)
    except (OSError, ValueError):
        return None
    return vectors if vectors.shape[0] == len(texts) else None


def embed_corpus(
    texts: list[str],
    embed_batch: Callable[[list[str]], np.ndarray],
    model_sha: str,
    cache: Path | None = None,
    chunk: int = 256,
    advance: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Embed ``texts`` in chunks (calling ``advance(n)`` after each) and write the cache file."""
    parts = []
    for start in range(0, len(texts), chunk):
        parts.append(embed_batch(texts[start : start + chunk]))
        if advance:
            advance(len(parts[-1]))
    vectors = np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
    path = embeddings_path(model_sha, sha256_text(texts), cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, _npy_bytes(vectors))
    return vectors


def fixture_embeddings() -> Embeddings | None:
    """The 3,200-row fixture of ruvec-conformance (first 3,200 corpus rows), if installed."""
    if find_spec("ruvector_conformance") is None:
        return None
    data = files("ruvector_conformance") / "data"
    vectors = np.load(io.BytesIO((data / "stdlib_minilm_3200_f16.npy").read_bytes())).astype(np.float32)
    texts = json.loads((data / "stdlib_passages_3200.json").read_text("utf-8"))
    return Embeddings(
        vectors=vectors,
        texts=texts,
        source="fixture",
        description="ruvec-conformance fixture: first 3,200 stdlib passages, all-MiniLM-L6-v2 int8, float16",
    )


def file_embeddings(path: Path) -> Embeddings:
    """The rows of a ``.npy`` the user names (``--data``): a finite float matrix, cast to float32."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read {path} as a .npy of embeddings: {exc}") from None
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.floating) or min(array.shape) < 1:
        raise InvalidInputError(f"{path} holds {array.dtype} of shape {array.shape}, not a float matrix (rows, d)")
    with np.errstate(over="ignore"):  # what overflows becomes infinite, refused just below
        vectors = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(vectors).all():
        raise InvalidInputError(f"{path} holds NaN or infinity (after the cast to float32)")
    rows, dimensions = vectors.shape
    return Embeddings(vectors, None, "file", f"{rows:,} x {dimensions} embeddings from {path}")


def short_sentences(texts: list[str], count: int = 32) -> list[str]:
    """``count`` short prose passages (6-14 words, at most 90 characters, mostly letters),
    spread over the corpus, in a fixed order: sentences a user might type."""
    low, high = SHORT_SENTENCE_WORDS

    def prose(text: str) -> bool:
        letters = sum(c.isalpha() or c == " " for c in text)
        return low <= len(text.split()) <= high and len(text) <= 90 and letters >= 0.9 * len(text)

    short = [t for t in texts if prose(t)]
    if len(short) < count:
        short = sorted(texts, key=len)[: max(count, 1)]
    step = max(1, len(short) // count)
    return short[::step][:count]


@dataclass(frozen=True)
class Split:
    queries: np.ndarray
    base: np.ndarray
    truth: np.ndarray  # (queries, k) row indices into base, best first

    @property
    def k(self) -> int:
        return int(self.truth.shape[1])


def split(vectors: np.ndarray, queries: int, size: int | None, k: int = 10) -> Split:
    """The first ``queries`` rows as queries, the next ``size`` rows (default all) as base."""
    if queries < 1 or queries >= len(vectors):
        raise InvalidInputError(f"need 1 <= queries < {len(vectors)} rows, got {queries}")
    available = len(vectors) - queries
    size = available if size is None else size
    if size < k or size > available:
        raise InvalidInputError(
            f"base size must be between {k} and {available} rows (after {queries} queries), got {size}"
        )
    q = np.ascontiguousarray(vectors[:queries], dtype=np.float32)
    base = np.ascontiguousarray(vectors[queries : queries + size], dtype=np.float32)
    return Split(queries=q, base=base, truth=exact_neighbours(q, base, k))


def exact_neighbours(queries: np.ndarray, base: np.ndarray, k: int) -> np.ndarray:
    """Row indices of the ``k`` most cosine-similar base rows per query (float64 brute force)."""
    q = queries.astype(np.float64)
    b = base.astype(np.float64)
    q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-300)
    b /= np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-300)
    out = np.empty((len(q), k), dtype=np.int64)
    for start in range(0, len(q), 512):
        sims = q[start : start + 512] @ b.T
        out[start : start + 512] = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return out


def tiled(vectors: np.ndarray, rows: int) -> np.ndarray:
    """``rows`` rows made by repeating ``vectors`` (for timings that need more rows than exist)."""
    return np.ascontiguousarray(np.resize(vectors, (rows, vectors.shape[1])), dtype=np.float32)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()
