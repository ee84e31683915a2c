"""Embedders: the default model against the original's fp32 outputs, and the contract."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

import ruvector_core as rv

from ..data import minilm_reference

pytestmark = pytest.mark.capability("embeddings")

PARITY = 0.998  # cosine with the fp32 original, for every reference sentence


@pytest.fixture(scope="module")
def embedder(runtime: rv.Runtime) -> Iterator[rv.Embedder]:
    with runtime.embedder() as embedder:
        yield embedder


def test_default_model_parity(embedder: rv.Embedder) -> None:
    reference = minilm_reference()
    got = embedder.embed_batch(reference["texts"]).astype(np.float64)
    cosines = (got * np.asarray(reference["embeddings"])).sum(axis=1)
    worst = int(np.argmin(cosines))
    assert embedder.dimensions == 384
    assert cosines.min() >= PARITY, f"{reference['texts'][worst][:50]!r}: cosine {cosines[worst]:.5f}"


def test_embeddings_contract(embedder: rv.Embedder) -> None:
    texts = minilm_reference()["texts"]
    batch = embedder.embed_batch(texts)
    assert batch.shape == (len(texts), embedder.dimensions) and batch.dtype == np.float32
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    reversed_batch = embedder.embed_batch(texts[::-1])[::-1]
    assert np.allclose(reversed_batch, batch, atol=1e-5), "results must come back in input order"
    singles = np.vstack([embedder.embed(t) for t in texts[:6]])
    assert np.allclose(singles, batch[:6], atol=2e-3)
    assert np.array_equal(embedder.embed(texts[0]), embedder.embed(texts[0])), "deterministic"
    assert embedder.embed_batch([]).shape == (0, embedder.dimensions)
    for text in ("", " \n ", "x" * 20000):
        assert np.isfinite(embedder.embed(text)).all()


def test_token_window(embedder: rv.Embedder) -> None:
    """``max_tokens`` and ``token_spans`` tell the truth: a text cut after its
    ``max_tokens``-th token embeds exactly as the whole text (the model reads no further),
    and one token fewer changes the embedding (it does read that far)."""
    assert embedder.max_tokens is not None, "a backend's embedder tells its window (protocols.TokenWindow)"
    text = " ".join(minilm_reference()["texts"])
    (spans,) = embedder.token_spans([text])
    assert spans.dtype == np.int64 and spans.ndim == 2 and spans.shape[1] == 2
    assert len(spans) > embedder.max_tokens >= 8, "the reference texts together exceed any window"
    assert (spans[:, 0] < spans[:, 1]).all() and (spans[1:, 0] >= spans[:-1, 1]).all(), "ordered, not overlapping"
    assert spans[-1, 1] <= len(text)
    whole = embedder.embed(text)
    assert np.allclose(embedder.embed(text[: spans[embedder.max_tokens - 1, 1]]), whole, atol=1e-5)
    assert not np.allclose(embedder.embed(text[: spans[embedder.max_tokens - 2, 1]]), whole, atol=1e-5)
    assert [len(s) for s in embedder.token_spans(["", "hello world"])][0] == 0
    assert embedder.token_count("hello world") == len(embedder.token_spans(["hello world"])[0]) > 0


def test_concurrent_embedding(embedder: rv.Embedder) -> None:
    texts = minilm_reference()["texts"][:10]
    expected = embedder.embed_batch(texts)
    failures: list[str] = []

    def work() -> None:
        try:
            for _ in range(3):
                if not np.allclose(embedder.embed_batch(texts), expected, atol=1e-6):
                    failures.append("different result under concurrency")
        except Exception as exc:
            failures.append(repr(exc))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]


def test_embedder_bad_input(embedder: rv.Embedder) -> None:
    with pytest.raises(rv.InvalidInputError):
        embedder.embed(None)  # type: ignore[arg-type]  # deliberately not a str: the check is that it is rejected
    with pytest.raises(rv.InvalidInputError):
        embedder.embed_batch(["ok", b"bytes"])  # type: ignore[list-item]  # deliberately bytes, as above
    with pytest.raises(rv.ModelNotFoundError):
        rv.Runtime(backend=embedder.backend).embedder(rv.EmbedderConfig(model="/nonexistent/model"))
