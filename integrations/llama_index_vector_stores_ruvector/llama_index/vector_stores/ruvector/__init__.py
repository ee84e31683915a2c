"""A LlamaIndex vector store on ruvector's ``rv.Memory`` (``RuvectorVectorStore``)."""

from llama_index.vector_stores.ruvector.base import RuvectorVectorStore
from llama_index.vector_stores.ruvector.filters import to_where
from ruvector_core.version import distribution_version

__version__ = distribution_version("llama-index-vector-stores-ruvector")

__all__ = ["RuvectorVectorStore", "__version__", "to_where"]
