"""``RuvectorEmbedding`` through LlamaIndex's public ``BaseEmbedding`` calls: the vectors are
ruvector's own, batched and async calls agree with single ones, and meaning ranks."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import ruvector_core as rv
from llama_index.embeddings.ruvector import RuvectorEmbedding


@pytest.fixture(scope="module")
def model() -> Iterator[RuvectorEmbedding]:
    embedding = RuvectorEmbedding()
    yield embedding
    embedding.close()


def test_vectors_are_ruvectors_own(model: RuvectorEmbedding) -> None:
    text = "Ana prefers green tea in the morning."
    vector = np.asarray(model.get_text_embedding(text))
    with rv.Runtime.initialize().embedder(rv.EmbedderConfig(progress=False)) as reference:
        assert np.allclose(vector, reference.embed(text), atol=1e-6)
    assert vector.shape == (model.embedder.dimensions,) and abs(np.linalg.norm(vector) - 1) < 1e-5
    assert model.model_name == "all-MiniLM-L6-v2" and model.class_name() == "RuvectorEmbedding"


def test_batches_queries_and_async_calls_agree(model: RuvectorEmbedding) -> None:
    texts = ["Bo plays the cello.", "The report is due on the 15th.", "Ana flies to Lisbon."]
    batch = np.asarray(model.get_text_embedding_batch(texts))
    singles = np.asarray([model.get_text_embedding(t) for t in texts])
    assert batch.shape == (3, 384) and np.allclose(batch, singles, atol=1e-5)
    assert np.allclose(model.get_query_embedding(texts[0]), singles[0], atol=1e-5)


async def test_async_calls(model: RuvectorEmbedding) -> None:
    query = np.asarray(await model.aget_query_embedding("who plays an instrument?"))
    texts = np.asarray(await model.aget_text_embedding_batch(["Bo plays the cello.", "Peanuts cause allergies."]))
    assert texts.shape == (2, 384) and float(texts[0] @ query) > float(texts[1] @ query)


def test_an_unknown_model_is_a_typed_error() -> None:
    with pytest.raises(rv.ModelError):
        RuvectorEmbedding(model_name="/nonexistent/model-folder")
