"""The default embedder against fp32 reference outputs of the original model."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

import ruvector_core as rv
from ruvector_conformance.data import MiniLMReference, minilm_reference


@pytest.fixture(scope="module")
def embedder() -> Iterator[rv.Embedder]:
    with rv.Runtime().embedder() as embedder:
        yield embedder


@pytest.fixture(scope="module")
def reference() -> MiniLMReference:
    return minilm_reference()


def test_parity_with_the_original_model(embedder: rv.Embedder, reference: MiniLMReference) -> None:
    """Every reference sentence, the >256-token one included, at cosine >= 0.998."""
    got = embedder.embed_batch(reference["texts"])
    want = np.asarray(reference["embeddings"], dtype=np.float64)
    cosines = (got.astype(np.float64) * want).sum(axis=1)
    worst = int(np.argmin(cosines))
    assert cosines.min() >= 0.998, f"{reference['texts'][worst][:60]!r}: cosine {cosines[worst]:.5f}"
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    pair = float(got[0] @ got[1])
    assert pair == pytest.approx(0.7553, abs=0.005), "food / bread sentences"


def test_batch_order_and_chunking(embedder: rv.Embedder, reference: MiniLMReference) -> None:
    texts = reference["texts"]
    batch = embedder.embed_batch(texts)
    singles = np.vstack([embedder.embed(t) for t in texts])
    assert np.allclose(batch, singles, atol=2e-3)  # padding changes int8 rounding slightly
    small_chunks = rv.Runtime().embedder(rv.EmbedderConfig(batch_size=3)).embed_batch(texts)
    assert np.allclose(small_chunks, batch, atol=2e-3)


@pytest.mark.parametrize("text", ["", "   \n\t ", "x", "日本語の文章です。", "🙂🙃" * 5, "word " * 2000])
def test_any_text_embeds(embedder: rv.Embedder, text: str) -> None:
    vector = embedder.embed(text)
    assert vector.shape == (384,) and vector.dtype == np.float32
    assert np.isfinite(vector).all() and abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_threads_share_one_embedder(embedder: rv.Embedder, reference: MiniLMReference) -> None:
    texts = reference["texts"][:12]
    expected = embedder.embed_batch(texts)
    results: dict[int, np.ndarray] = {}

    def work(slot: int) -> None:
        results[slot] = embedder.embed_batch(texts)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(np.allclose(r, expected, atol=1e-6) for r in results.values())


def test_bad_input_and_closing(reference: MiniLMReference) -> None:
    embedder = rv.Runtime().embedder()
    assert embedder.dimensions == 384 and embedder.backend == "onnx"
    assert embedder.embed_batch([]).shape == (0, 384)
    with pytest.raises(rv.InvalidInputError):
        embedder.embed(42)  # type: ignore[arg-type]  # deliberately not a str: the check is that it is rejected
    with pytest.raises(rv.InvalidInputError):
        embedder.embed_batch("one string")
    embedder.close()
    with pytest.raises(rv.RuvectorError, match="closed"):
        embedder.embed("after close")


def test_embedding_leaves_the_callers_floating_point_state_alone(embedder: rv.Embedder) -> None:
    """ONNX Runtime can set flush-to-zero on the threads it runs on, which would silently
    zero every subnormal in the caller's later numpy work (hypothesis noticed once)."""
    embedder.embed_batch(["a sentence", "another, longer sentence with more tokens in it"])
    subnormal = np.float32(1e-40)
    assert np.array([subnormal]) * np.float32(1.0) != 0
    seen: list[np.ndarray] = []
    worker = threading.Thread(target=lambda: seen.append(np.array([subnormal]) * np.float32(1.0)))
    worker.start()
    worker.join()
    assert seen[0] != 0
