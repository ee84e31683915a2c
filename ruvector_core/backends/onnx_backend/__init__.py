"""Text embeddings with ONNX Runtime and Hugging Face tokenizers (the ``embeddings`` extra).

Only the declaration lives here; onnxruntime is imported when an embedder is first asked for.
"""

from ...models import BackendSpec
from ...version import __version__

SPEC = BackendSpec(
    name="onnx",
    version=__version__,
    priority=0,
    capabilities=frozenset({"embeddings"}),
    plugin="ruvector_core.backends.onnx_backend.plugin",
    description="ONNX Runtime sentence embeddings (default all-MiniLM-L6-v2)",
)
