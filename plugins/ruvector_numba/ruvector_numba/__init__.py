"""ruvector's numba backend: JIT-compiled vector kernels, quantization and HNSW.

This module is what the ``ruvector.backends`` entry point loads, so it declares and does
nothing more: it must not import numba. The hook implementations live in ``.plugin``,
which the runtime imports the first time one of the capabilities below is asked for.
"""

from importlib.metadata import PackageNotFoundError, version

from ruvector_core.models import BackendSpec

try:
    __version__ = version("ruvector-numba")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0+unknown"

SPEC = BackendSpec(
    name="numba",
    version=__version__,
    priority=50,
    capabilities=frozenset({"vector_ops", "hnsw"}),
    plugin="ruvector_numba.plugin",
    description="numba JIT kernels: parallel vector ops and quantization, compiled HNSW",
)

__all__ = ["SPEC", "__version__"]
