"""The WebAssembly ruvector backend: the shared Rust kernels compiled to wasm32, run by wasmtime.

This module is what the ``ruvector.backends`` entry point loads, so it only declares the
backend; it must not import wasmtime. The hook implementations live in
``ruvector_wasm.plugin`` and load on first use.
"""

try:  # first: a ruvector_core that is another project's (same import name) fails here, plainly
    from ruvector_core.origin import require_own_core
except ImportError as exc:
    raise ImportError(
        f"ruvec-wasm cannot use the installed ruvector_core: it is not (only) the ruvec distribution's "
        f"({exc}); fix: pip uninstall -y ruvector-core ruvec && pip install 'ruvec[wasm]'"
    ) from exc

require_own_core("ruvec[wasm]")

from importlib.util import find_spec  # noqa: E402

from ruvector_core.models import BackendSpec  # noqa: E402
from ruvector_core.version import distribution_version  # noqa: E402

__version__ = distribution_version("ruvec-wasm")

SPEC = BackendSpec(
    name="wasm",
    version=__version__,
    priority=30,
    # embeddings need the host side (model files, tokenizer), an optional dependency
    capabilities=frozenset({"vector_ops", "hnsw"} | ({"embeddings"} if find_spec("ruvector_textmodel") else set())),
    plugin="ruvector_wasm.plugin",
    # embeddings: after onnx (priority 0), which stays the default embedder; this backend
    # serves what onnx declines (precision="fp32") or when asked for by name
    capability_priority={"embeddings": -20},
    description="Rust kernels (a MiniLM encoder too) compiled to wasm32 (simd128), run in a sandbox by wasmtime",
)

__all__ = ["SPEC", "__version__"]
