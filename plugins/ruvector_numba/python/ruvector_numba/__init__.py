"""ruvector's numba backend: JIT-compiled vector kernels, quantization and HNSW.

This module is what the ``ruvector.backends`` entry point loads, so it declares and does
nothing more: it must not import numba. The hook implementations live in ``.plugin``,
which the runtime imports the first time one of the capabilities below is asked for.
"""

from ruvector_core.models import BackendSpec
from ruvector_core.version import distribution_version

__version__ = distribution_version("ruvec-numba")

SPEC = BackendSpec(
    name="numba",
    version=__version__,
    priority=50,
    capabilities=frozenset({"vector_ops", "hnsw"}),
    plugin="ruvector_numba.plugin",
    description="numba JIT kernels: parallel vector ops and quantization, compiled HNSW",
)

__all__ = ["SPEC", "__version__"]
