"""ruvector's embedder as a LlamaIndex embedding model (``RuvectorEmbedding``)."""

from llama_index.embeddings.ruvector.base import RuvectorEmbedding
from ruvector_core.version import distribution_version

__version__ = distribution_version("llama-index-embeddings-ruvector")

__all__ = ["RuvectorEmbedding", "__version__"]
