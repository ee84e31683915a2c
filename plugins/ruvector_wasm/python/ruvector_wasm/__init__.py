"""The WebAssembly ruvector backend: the shared Rust kernels compiled to wasm32, run by wasmtime.

This module is what the ``ruvector.backends`` entry point loads, so it only declares the
backend; it must not import wasmtime. The hook implementations live in
``ruvector_wasm.plugin`` and load on first use.
"""

from ruvector_core.models import BackendSpec
from ruvector_core.version import distribution_version

__version__ = distribution_version("ruvec-wasm")

SPEC = BackendSpec(
    name="wasm",
    version=__version__,
    priority=30,
    capabilities=frozenset({"vector_ops", "hnsw"}),
    plugin="ruvector_wasm.plugin",
    description="Rust kernels compiled to wasm32 (simd128), run in a sandbox by wasmtime",
)

__all__ = ["SPEC", "__version__"]
