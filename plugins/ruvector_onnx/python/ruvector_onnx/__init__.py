"""Text embeddings with ONNX Runtime and Hugging Face tokenizers (the ``embeddings`` extra).

This module is what the ``ruvector.backends`` entry point loads, so it only declares the
backend; onnxruntime is imported when an embedder is first asked for (``.plugin``).
"""

try:  # first: a ruvector_core that is another project's (same import name) fails here, plainly
    from ruvector_core.origin import require_own_core
except ImportError as exc:
    raise ImportError(
        f"ruvec-onnx cannot use the installed ruvector_core: it is not (only) the ruvec distribution's "
        f"({exc}); fix: pip uninstall -y ruvector-core ruvec && pip install 'ruvec[embeddings]'"
    ) from exc

require_own_core("ruvec[embeddings]")

from ruvector_core.models import BackendSpec  # noqa: E402
from ruvector_core.version import distribution_version  # noqa: E402

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
