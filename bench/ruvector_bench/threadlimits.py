"""How many threads the measured code may use: one setting for every backend and peer.

The backends size their thread pools from environment variables the first time they need
one (numba from ``NUMBA_NUM_THREADS``, the native backend from ``RUVECTOR_NATIVE_THREADS``,
FAISS's OpenMP from ``OMP_NUM_THREADS``), so the variables must be set before any of them
starts: by the command line for its own process, and in the environment of every fresh
process a run starts. numpy's BLAS is limited at run time through threadpoolctl.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

VARIABLES = ("NUMBA_NUM_THREADS", "RUVECTOR_NATIVE_THREADS", "OMP_NUM_THREADS")
BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")  # reported, not set


def variables(threads: int) -> dict[str, str]:
    """The environment that limits every backend's pool to ``threads``."""
    return {name: str(threads) for name in VARIABLES}


@contextlib.contextmanager
def blas_threads(threads: int) -> Iterator[str]:
    """Limit numpy's BLAS to ``threads`` when threadpoolctl is installed; yields what was done."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield "not limited (threadpoolctl not installed)"
        return
    with threadpool_limits(limits=threads):
        yield f"limited to {threads} by threadpoolctl"
