"""Ray Data: embeddings made by map_batches actors, and a dataset written into a sharded index."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import ray

import ruvector_core as rv
from ruvector_conformance.data import corpus, passages
from ruvector_ray import EmbedBatch, ShardedIndex

TEXTS = 96


def test_map_batches_embeddings_equal_embed_batch() -> None:
    texts = passages()[:TEXTS]
    ds = ray.data.from_items([{"id": f"p{i}", "text": t} for i, t in enumerate(texts)])
    rows = ds.map_batches(EmbedBatch, concurrency=1, batch_size=32, batch_format="numpy").take_all()
    by_id = {row["id"]: np.asarray(row["embedding"]) for row in rows}
    assert sorted(by_id) == sorted(f"p{i}" for i in range(TEXTS))
    got = np.stack([by_id[f"p{i}"] for i in range(TEXTS)])
    expected = rv.Runtime.initialize().embedder().embed_batch(texts)
    assert got.dtype == np.float32 and got.shape == expected.shape
    cosine = (got * expected).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(expected, axis=1)
    assert cosine.min() >= 0.9999


def test_a_batch_without_the_text_column_is_refused() -> None:
    embed = EmbedBatch(text_column="body")
    with pytest.raises(rv.InvalidInputError, match="no column 'body'"):
        embed({"text": np.array(["a"])})


def test_the_datasink_fills_a_sharded_index() -> None:
    data = corpus()
    rows = 500
    index = ShardedIndex.create(rv.HnswConfig(dimensions=384), 2)
    try:
        items = [{"id": data.ids[i], "embedding": data.base[i]} for i in range(rows)]
        ray.data.from_items(items).repartition(4).write_datasink(index.datasink())
        ray.data.from_items(items[:100]).write_datasink(index.datasink())  # written again: upserts
        assert len(index) == rows and sorted(index.ids()) == sorted(data.ids[:rows])
        top = index.search(data.base[7], 1)[0]
        assert top.id == data.ids[7] and top.score == pytest.approx(1.0, abs=1e-5)
        block = pa.table({"id": ["listed"], "embedding": [data.base[0].tolist()]})  # a list column, as from JSON
        index.datasink().write([block], None)
        assert "listed" in index
        with pytest.raises(rv.InvalidInputError, match="no column 'vector'"):  # what a write task raises
            index.datasink(embedding_column="vector").write([block], None)
        with pytest.raises(rv.DimensionMismatchError):
            index.datasink().write([pa.table({"id": ["a"], "embedding": [[1.0, 2.0]]})], None)
        with pytest.raises(rv.InvalidInputError, match="different lengths"):
            index.datasink().write([pa.table({"id": ["a", "b"], "embedding": [[1.0, 2.0], [1.0]]})], None)
        assert len(index) == rows + 1
    finally:
        index.close()
