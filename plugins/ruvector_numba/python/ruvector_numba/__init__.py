"""ruvector's numba backend: JIT-compiled vector kernels, quantization and HNSW.

This module is what the ``ruvector.backends`` entry point loads, so it declares and does
nothing more: it must not import numba. The hook implementations live in ``.plugin``,
which the runtime imports the first time one of the capabilities below is asked for.
"""

try:  # first: a ruvector_core that is another project's (same import name) fails here, plainly
    from ruvector_core.origin import require_own_core
except ImportError as exc:
    raise ImportError(
        f"ruvec-numba cannot use the installed ruvector_core: it is not (only) the ruvec distribution's "
        f"({exc}); fix: pip uninstall -y ruvector-core ruvec && pip install 'ruvec[numba]'"
    ) from exc

require_own_core("ruvec[numba]")

from ruvector_core.models import BackendSpec  # noqa: E402
from ruvector_core.version import distribution_version  # noqa: E402

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
