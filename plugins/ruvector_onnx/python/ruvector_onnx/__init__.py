"""Text embeddings with ONNX Runtime and Hugging Face tokenizers (the ``embeddings`` extra).

This module is what the ``ruvector.backends`` entry point loads, so it only declares the
backend; onnxruntime is imported when an embedder is first asked for (``.plugin``).
"""

from ruvector_core.models import BackendSpec
from ruvector_core.version import distribution_version

__version__ = distribution_version("ruvec-onnx")

SPEC = BackendSpec(
    name="onnx",
    version=__version__,
    priority=0,
    capabilities=frozenset({"embeddings"}),
    plugin="ruvector_onnx.plugin",
    description="ONNX Runtime sentence embeddings (default all-MiniLM-L6-v2)",
)

__all__ = ["SPEC", "__version__"]
