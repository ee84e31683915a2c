"""The native ruvector backend (Rust via PyO3).

This module is what the ``ruvector.backends`` entry point loads, so it only declares the
backend; it must not import the compiled extension. The hook implementations live in
``ruvector_native.plugin`` and load on first use.
"""

from ruvector_core.models import BackendSpec
from ruvector_core.version import distribution_version

__version__ = distribution_version("ruvec-native")

SPEC = BackendSpec(
    name="native",
    version=__version__,
    priority=100,
    capabilities=frozenset({"vector_ops", "hnsw"}),
    plugin="ruvector_native.plugin",
    description="Rust kernels (AVX-512F or AVX2/FMA SIMD, multithreaded HNSW) through PyO3",
)

__all__ = ["SPEC", "__version__"]
