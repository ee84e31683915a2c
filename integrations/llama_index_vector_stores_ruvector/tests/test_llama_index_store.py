"""The store under LlamaIndex's own machinery: a ``VectorStoreIndex`` built from
``Document``s with ruvector's embedding model, queried through its retriever with
``MetadataFilters`` (each supported operator checked against a plain evaluation of the same
filter), refused operators, deletion by document, reopening, and the keyword and hybrid modes."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from llama_index.core import Document, MockEmbedding, StorageContext, VectorStoreIndex
from llama_index.core.retrievers import VectorIndexRetriever
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

import ruvector_core as rv
from llama_index.embeddings.ruvector import RuvectorEmbedding
from llama_index.vector_stores.ruvector import RuvectorVectorStore

FACTS = [
    ("Ana prefers green tea in the morning.", {"user": "ana", "year": 2024}),
    ("Ana's flight to Lisbon leaves on Friday.", {"user": "ana", "year": 2025}),
    ("Bo is allergic to peanuts.", {"user": "bo", "year": 2023}),
    ("Bo plays the cello in an orchestra.", {"user": "bo", "year": 2025}),
    ("The team standup moved to 9:30.", {"user": "team", "year": 2025}),
    ("Quarterly report due on the 15th.", {"user": "team", "year": 2024, "urgent": 1}),
]
ALL = len(FACTS)


@pytest.fixture(scope="module")
def embed_model() -> Iterator[RuvectorEmbedding]:
    model = RuvectorEmbedding()
    yield model
    model.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RuvectorVectorStore]:
    with RuvectorVectorStore(path=tmp_path / "store") as opened:
        yield opened


@pytest.fixture
def index(store: RuvectorVectorStore, embed_model: RuvectorEmbedding) -> VectorStoreIndex:
    documents = [Document(text=text, metadata=meta, id_=f"f{i}") for i, (text, meta) in enumerate(FACTS)]
    return VectorStoreIndex.from_documents(
        documents, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=embed_model
    )


def retrieved(index: VectorStoreIndex, query: str, k: int = ALL, **kwargs: Any) -> list[str]:
    """The document ids the index's retriever returns, best first."""
    return [hit.node.ref_doc_id or "" for hit in index.as_retriever(similarity_top_k=k, **kwargs).retrieve(query)]


def test_the_retriever_ranks_by_meaning_and_returns_the_nodes_as_added(index: VectorStoreIndex) -> None:
    hits = index.as_retriever(similarity_top_k=2).retrieve("what does Ana like to drink?")
    assert hits[0].node.ref_doc_id == "f0" and hits[0].get_score() > hits[1].get_score()
    assert hits[0].node.get_content() == FACTS[0][0] and hits[0].node.metadata == FACTS[0][1]


def _plain(key: str, op: Callable[[Any, Any], bool], value: Any) -> Callable[[dict[str, Any]], bool]:
    """LlamaIndex's own semantics: a missing key matches only != and nin."""
    missing = op in (operator.ne, _not_in)
    return lambda meta: op(meta[key], value) if key in meta else missing


def _not_in(a: Any, b: Any) -> bool:
    return a not in b


def _in(a: Any, b: Any) -> bool:
    return a in b


SINGLE = [
    (FilterOperator.EQ, "user", "ana", operator.eq),
    (FilterOperator.NE, "user", "ana", operator.ne),
    (FilterOperator.GT, "year", 2024, operator.gt),
    (FilterOperator.GTE, "year", 2024, operator.ge),
    (FilterOperator.LT, "year", 2025, operator.lt),
    (FilterOperator.LTE, "year", 2024, operator.le),
    (FilterOperator.IN, "user", ["bo", "team"], _in),
    (FilterOperator.NIN, "user", ["bo", "team"], _not_in),
    (FilterOperator.NE, "urgent", 1, operator.ne),  # a key most items lack
]


@pytest.mark.parametrize(("op", "key", "value", "plain"), SINGLE, ids=[f"{o.value}-{k}" for o, k, _, _ in SINGLE])
def test_each_operator_selects_what_it_means(
    index: VectorStoreIndex, op: FilterOperator, key: str, value: Any, plain: Callable[[Any, Any], bool]
) -> None:
    filters = MetadataFilters(filters=[MetadataFilter(key=key, value=value, operator=op)])
    expected = {f"f{i}" for i, (_, meta) in enumerate(FACTS) if _plain(key, plain, value)(meta)}
    assert expected and len(expected) < ALL, "the case must select some but not all"
    assert set(retrieved(index, "anything at all", filters=filters)) == expected


def test_and_or_not_and_nesting(index: VectorStoreIndex) -> None:
    ana = MetadataFilter(key="user", value="ana")
    recent = MetadataFilter(key="year", value=2025, operator=FilterOperator.GTE)
    both = MetadataFilters(filters=[ana, recent], condition=FilterCondition.AND)
    either = MetadataFilters(filters=[ana, recent], condition=FilterCondition.OR)
    neither = MetadataFilters(filters=[ana, recent], condition=FilterCondition.NOT)
    assert set(retrieved(index, "news", filters=both)) == {"f1"}
    assert set(retrieved(index, "news", filters=either)) == {"f0", "f1", "f3", "f4"}
    assert set(retrieved(index, "news", filters=neither)) == {"f2", "f5"}
    nested = MetadataFilters(
        filters=[MetadataFilter(key="user", value="team", operator=FilterOperator.NE), either],
        condition=FilterCondition.AND,
    )
    assert set(retrieved(index, "news", filters=nested)) == {"f0", "f1", "f3"}


def test_k_hits_come_back_whenever_k_match(index: VectorStoreIndex) -> None:
    bo = MetadataFilters(filters=[MetadataFilter(key="user", value="bo")])
    assert sorted(retrieved(index, "what does Ana like to drink?", k=2, filters=bo)) == ["f2", "f3"]
    assert retrieved(index, "cello", k=1, filters=bo) == ["f3"]


@pytest.mark.parametrize(
    "op", [FilterOperator.CONTAINS, FilterOperator.TEXT_MATCH, FilterOperator.ANY, FilterOperator.IS_EMPTY]
)
def test_operators_the_memory_cannot_evaluate_are_refused_by_name(index: VectorStoreIndex, op: FilterOperator) -> None:
    value: Any = ["a"] if op in (FilterOperator.ANY,) else "ana"
    filters = MetadataFilters(filters=[MetadataFilter(key="user", value=value, operator=op)])
    with pytest.raises(rv.InvalidInputError, match=f"filter operator '{op.value}' on 'user' is not supported"):
        retrieved(index, "tea", filters=filters)


def test_documents_are_deleted_by_ref_doc_id_and_the_store_reopens(
    tmp_path: Path, index: VectorStoreIndex, store: RuvectorVectorStore, embed_model: RuvectorEmbedding
) -> None:
    index.delete_ref_doc("f0")
    assert "f0" not in retrieved(index, "green tea")
    store.close()
    with RuvectorVectorStore(path=tmp_path / "store") as reopened:
        again = VectorStoreIndex.from_vector_store(reopened, embed_model=embed_model)
        assert sorted(retrieved(again, "tea")) == [f"f{i}" for i in range(1, ALL)]
        assert retrieved(again, "peanut allergy", k=1) == ["f2"]
        node = reopened.get_nodes(node_ids=[reopened.client.search("cello", k=1)[0].id])[0]
        assert node.ref_doc_id == "f3" and node.metadata == FACTS[3][1]
        reopened.clear()
        assert retrieved(again, "tea") == []


def test_keyword_and_hybrid_modes_and_doc_ids(index: VectorStoreIndex) -> None:
    assert retrieved(index, "peanuts", vector_store_query_mode="text_search") == ["f2"]
    assert retrieved(index, "allergic to peanuts", k=2, vector_store_query_mode="hybrid")[0] == "f2"
    assert set(retrieved(index, "tea", doc_ids=["f2", "f3"])) == {"f2", "f3"}
    cello = index.vector_store.query(VectorStoreQuery(query_str="cello", similarity_top_k=1)).ids
    assert cello is not None
    named = VectorIndexRetriever(index, similarity_top_k=ALL, node_ids=cello).retrieve("tea")
    assert [hit.node.ref_doc_id for hit in named] == ["f3"], "only the nodes named"


def test_unsupported_queries_are_refused(store: RuvectorVectorStore) -> None:
    with pytest.raises(rv.InvalidInputError, match="query mode 'mmr' is not supported"):
        store.query(VectorStoreQuery(query_str="tea", mode=VectorStoreQueryMode.MMR))
    with pytest.raises(rv.InvalidInputError, match="needs query_str"):
        store.query(VectorStoreQuery(query_embedding=[0.0] * 384, mode=VectorStoreQueryMode.TEXT_SEARCH))


async def test_async_retrieval(index: VectorStoreIndex) -> None:
    hits = await index.as_retriever(similarity_top_k=1).aretrieve("cello")
    assert hits[0].node.ref_doc_id == "f3"


def test_the_index_embedding_model_sizes_the_store_and_is_recorded(
    tmp_path: Path, embed_model: RuvectorEmbedding
) -> None:
    with RuvectorVectorStore(path=tmp_path / "shared", embed_model=embed_model) as store:
        assert store.client.embedder is embed_model.embedder, "ruvector's embedder is shared, not loaded twice"
        index = VectorStoreIndex.from_documents(
            [Document(text=text, metadata=meta, id_=f"f{i}") for i, (text, meta) in enumerate(FACTS)],
            storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=embed_model,
        )
        assert retrieved(index, "allergic to peanuts", k=1, vector_store_query_mode="hybrid") == ["f2"]
    assert embed_model.get_text_embedding("still open"), "closing the store leaves the model to its owner"
    with rv.Memory.open(tmp_path / "shared", progress=False) as memory:  # recorded under ruvector's own name
        assert memory.model == "all-MiniLM-L6-v2" and memory.count() == ALL

    # another dimension: LlamaIndex's MockEmbedding (constant vectors) stands for any other model here,
    # since only the plumbing is under test: the dimension it gives and the name the store records
    other = MockEmbedding(embed_dim=8)
    with RuvectorVectorStore(path=tmp_path / "other", embed_model=other) as store:
        index = VectorStoreIndex.from_documents(
            [Document(text=text, metadata=meta, id_=f"f{i}") for i, (text, meta) in enumerate(FACTS)],
            storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=other,
        )
        bo = MetadataFilters(filters=[MetadataFilter(key="user", value="bo")])
        assert sorted(retrieved(index, "anything", filters=bo)) == ["f2", "f3"]
        assert store.client.model == "llama_index:MockEmbedding:unknown"
    with pytest.raises(rv.RuvectorError, match="built with model 'llama_index:MockEmbedding:unknown'"):
        RuvectorVectorStore(path=tmp_path / "other", embed_model=embed_model)
