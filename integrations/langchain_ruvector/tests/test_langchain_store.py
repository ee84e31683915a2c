"""What the standard suite does not ask: filters applied inside the graph, relevance scores,
namespaces, persistence and the recorded model, bad input that changes nothing, a retriever,
and concurrent async calls on one store."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding

import ruvector_core as rv
from langchain_ruvector import RuvectorEmbeddings, RuvectorVectorStore

FACTS = [
    ("Ana prefers green tea in the morning.", {"user": "ana", "year": 2024}),
    ("Ana's flight to Lisbon leaves on Friday.", {"user": "ana", "year": 2025}),
    ("Bo is allergic to peanuts.", {"user": "bo", "year": 2023}),
    ("Bo plays the cello in an orchestra.", {"user": "bo", "year": 2025}),
    ("The team standup moved to 9:30.", {"user": "team", "year": 2025}),
]


@pytest.fixture(scope="module")
def embeddings() -> Iterator[RuvectorEmbeddings]:
    model = RuvectorEmbeddings()
    yield model
    model.close()


@pytest.fixture
def store(tmp_path: Path, embeddings: RuvectorEmbeddings) -> Iterator[RuvectorVectorStore]:
    with RuvectorVectorStore(tmp_path / "store", embedding=embeddings) as opened:
        opened.add_texts([t for t, _ in FACTS], [m for _, m in FACTS], ids=[f"f{i}" for i in range(len(FACTS))])
        yield opened


def test_the_filter_is_the_memorys_where_and_k_hits_come_back(store: RuvectorVectorStore) -> None:
    assert store.similarity_search("what does Ana drink?", k=1)[0].id == "f0"
    bos = store.similarity_search("what does Ana drink?", k=2, filter={"user": "bo"})
    assert sorted(doc.id for doc in bos) == ["f2", "f3"], "only Bo's items, and both of them"
    recent = store.similarity_search("news", k=10, filter={"$and": [{"year": {"$gte": 2025}}, {"user": {"$ne": "bo"}}]})
    assert sorted(doc.id for doc in recent) == ["f1", "f4"]
    with pytest.raises(rv.InvalidInputError, match="unknown operator"):
        store.similarity_search("tea", filter={"year": {"$near": 2024}})


def test_scores_are_cosine_similarities_and_relevance_lies_in_0_1(
    store: RuvectorVectorStore, embeddings: RuvectorEmbeddings
) -> None:
    scored = store.similarity_search_with_score("green tea in the morning", k=5)
    scores = [score for _, score in scored]
    assert scores == sorted(scores, reverse=True) and -1 <= scores[-1] < scores[0] <= 1
    relevant = store.similarity_search_with_relevance_scores("green tea in the morning", k=5, score_threshold=0.7)
    assert [doc.id for doc, _ in relevant] == ["f0"], "only the close match clears the threshold"
    assert all(0 <= r <= 1 for _, r in store.similarity_search_with_relevance_scores("tea", k=5))
    by_vector = store.similarity_search_by_vector(embeddings.embed_query("cello"), k=1)
    assert by_vector[0].id == "f3"


def test_namespaces_are_separate_and_delete_without_ids_empties_only_its_own(
    tmp_path: Path, embeddings: RuvectorEmbeddings, store: RuvectorVectorStore
) -> None:
    with RuvectorVectorStore(tmp_path / "store", embedding=embeddings, namespace="scratch") as scratch:
        scratch.add_texts(["a scratch note about tea"], ids=["s0"])
        assert [d.id for d in scratch.similarity_search("tea", k=10)] == ["s0"]
        assert scratch.get_by_ids(["f0"]) == [] and store.get_by_ids(["s0"]) == []
        scratch.delete()
        assert scratch.similarity_search("tea", k=10) == []
    assert len(store.similarity_search("tea", k=10)) == len(FACTS)
    store.delete(where={"user": "bo"})
    assert sorted(d.id for d in store.similarity_search("tea", k=10)) == ["f0", "f1", "f4"]


def test_a_store_persists_and_records_the_model_that_made_its_vectors(
    tmp_path: Path, embeddings: RuvectorEmbeddings
) -> None:
    folder = tmp_path / "kept"
    with RuvectorVectorStore(folder) as store:  # the memory's own embedder
        store.add_documents([Document(page_content="Ana prefers green tea.", metadata={"user": "ana"}, id="a")])
    with rv.Memory.open(folder, progress=False) as memory:  # the same store for the CLI and rv.Memory
        assert memory.model == rv.EmbedderConfig().model and memory.get(["a"])[0].metadata == {"user": "ana"}
    with RuvectorVectorStore(folder, embedding=embeddings) as store:
        assert store.memory.embedder is embeddings.embedder, "ruvector's embedder is shared, not loaded twice"
        assert store.similarity_search("tea", k=1)[0].id == "a"
    assert embeddings.embed_query("still open"), "closing the store leaves the embeddings to their owner"
    with pytest.raises(rv.RuvectorError, match="built with model 'all-MiniLM-L6-v2'"):
        RuvectorVectorStore(folder, embedding=DeterministicFakeEmbedding(size=384))


def test_bad_input_is_refused_and_changes_nothing(store: RuvectorVectorStore) -> None:
    before = sorted(d.id or "" for d in store.similarity_search("anything", k=10))
    with pytest.raises(rv.InvalidInputError, match="cannot be stored as JSON"):
        store.add_texts(["fine", "not fine"], [{"ok": 1}, {"when": object()}], ids=["new", "f0"])
    with pytest.raises(rv.InvalidInputError, match="2 ids for 1 texts"):
        store.add_texts(["one"], ids=["x", "y"])
    with pytest.raises(rv.InvalidInputError, match="unexpected arguments: color"):
        store.similarity_search("tea", color="red")
    with pytest.raises(rv.InvalidInputError, match="namespace"):
        RuvectorVectorStore(Path(store.memory.folder), namespace="")
    assert sorted(d.id or "" for d in store.similarity_search("anything", k=10)) == before
    assert store.get_by_ids(["f0"])[0].page_content == FACTS[0][0]


def test_from_texts_and_a_retriever_with_a_filter(tmp_path: Path, embeddings: RuvectorEmbeddings) -> None:
    with pytest.raises(rv.InvalidInputError, match="path="):
        RuvectorVectorStore.from_texts(["x"], embeddings)
    store = RuvectorVectorStore.from_texts(
        [t for t, _ in FACTS], embeddings, [m for _, m in FACTS], path=tmp_path / "made", namespace="facts"
    )
    with store:
        retriever = store.as_retriever(search_kwargs={"k": 2, "filter": {"user": "ana"}})
        found = retriever.invoke("when is the trip?")
        assert [doc.page_content for doc in found] == [FACTS[1][0], FACTS[0][0]]


async def test_concurrent_async_searches_during_an_add(store: RuvectorVectorStore) -> None:
    """LangChain runs the sync methods in worker threads: one store's SQLite connection is
    used by many of them at once, which the store serialises."""
    more = [f"Note {i} about the quarterly report." for i in range(50)]
    results = await asyncio.gather(
        store.aadd_texts(more, ids=[f"n{i}" for i in range(50)]),
        *(store.asimilarity_search("what does Ana drink?", k=3, filter={"user": "ana"}) for _ in range(20)),
    )
    assert results[0] == [f"n{i}" for i in range(50)]
    assert all([d.metadata["user"] for d in hits] == ["ana", "ana"] for hits in results[1:])
    assert len(await store.aget_by_ids([f"n{i}" for i in range(50)])) == 50
