"""Hook implementations of the numba backend.

Importing this module never fails because of numba: the import is attempted here, and
when it fails (numba missing, built for another NumPy, a Python it does not support) the
backend reports itself unusable with the reason, and the runtime falls back to the next
backend. Kernels compile lazily on first use and are cached on disk (see ``_cachedir``).
"""

from __future__ import annotations

import sys

from ruvector_core import index_format
from ruvector_core.hookspecs import hookimpl
from ruvector_core.models import BackendInfo, HnswConfig

from . import SPEC, _cachedir

_cachedir.configure()  # before numba is imported anywhere below

try:
    import numba  # noqa: F401

    from .hnsw import NumbaHnsw
    from .vector_ops import NumbaKernels
except Exception as exc:  # ImportError, or numba's own errors about NumPy / Python versions
    _UNUSABLE: str | None = f"numba cannot run here (Python {sys.version.split()[0]}): {type(exc).__name__}: {exc}"
else:
    _UNUSABLE = None


@hookimpl
def ruvector_backend_info() -> BackendInfo:
    return BackendInfo.from_spec(SPEC, _UNUSABLE)


@hookimpl
def ruvector_vector_ops() -> NumbaKernels | None:
    return None if _UNUSABLE else NumbaKernels()


@hookimpl
def ruvector_hnsw_index(config: HnswConfig) -> NumbaHnsw | None:
    return None if _UNUSABLE else NumbaHnsw(config, SPEC.name)


@hookimpl
def ruvector_hnsw_load(data: bytes, config: HnswConfig) -> NumbaHnsw | None:
    if _UNUSABLE:
        return None
    return index_format.load(data, lambda graph: NumbaHnsw.from_graph(graph, SPEC.name))
