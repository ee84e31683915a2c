"""LangChain's interfaces on ruvector: ``RuvectorVectorStore`` (a ``VectorStore`` backed by
``rv.Memory``) and ``RuvectorEmbeddings`` (ruvector's embedder as LangChain ``Embeddings``)."""

from ruvector_core.version import distribution_version

from .embeddings import RuvectorEmbeddings
from .vectorstores import RuvectorVectorStore

__version__ = distribution_version("langchain-ruvector")

__all__ = ["RuvectorEmbeddings", "RuvectorVectorStore", "__version__"]
