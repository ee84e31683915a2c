"""LangChain's standard suites, unmodified: the vector store twice (with the suite's own
embeddings handed in, and with ``embedding=None``, where the memory embeds with ruvector's
model), and the embeddings' integration and unit suites."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests import EmbeddingsIntegrationTests, VectorStoreIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from langchain_ruvector import RuvectorEmbeddings, RuvectorVectorStore


class TestRuvectorVectorStore(VectorStoreIntegrationTests):
    """Vectors from the suite's embeddings (``get_embeddings()``), passed to the memory."""

    @pytest.fixture
    def vectorstore(self, tmp_path: Path) -> Iterator[VectorStore]:
        with RuvectorVectorStore(tmp_path / "store", embedding=self.get_embeddings()) as store:
            yield store


class TestRuvectorVectorStoreOwnEmbedder(VectorStoreIntegrationTests):
    """No LangChain embeddings: the memory embeds documents and queries itself."""

    @pytest.fixture
    def vectorstore(self, tmp_path: Path) -> Iterator[VectorStore]:
        with RuvectorVectorStore(tmp_path / "store") as store:
            yield store


class TestRuvectorEmbeddingsIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[RuvectorEmbeddings]:
        return RuvectorEmbeddings


class TestRuvectorEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[RuvectorEmbeddings]:
        return RuvectorEmbeddings
