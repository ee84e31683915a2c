"""The one place that imports numba and decorates kernels.

Every kernel is compiled lazily (no signatures, so nothing compiles at import time) and
cached on disk in the directory chosen by ``_cachedir`` (which runs first, before numba
is imported). Kernels launched with ``parallel=True`` go through ``launch_lock``: numba's
fallback ``workqueue`` threading layer aborts the process when two Python threads start
parallel kernels at once, and we cannot count on TBB or OpenMP being installed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypedDict, TypeVar, Unpack

from . import _cachedir

if TYPE_CHECKING:
    from numba.core.dispatcher import Dispatcher

CACHE = _cachedir.enabled()

import numba  # noqa: E402  (the cache directory must be exported first)

# Reassociation lets LLVM vectorise float reductions; no nnan/ninf so comparisons with
# non-finite values (possible in loaded, corrupt-but-valid files) stay well defined.
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}

launch_lock = threading.Lock()

Kernel = TypeVar("Kernel", bound=Callable[..., object])


class JitOptions(TypedDict, total=False):
    """The ``numba.njit`` options the kernels use."""

    nogil: bool
    parallel: bool
    fastmath: set[str]


def jit(**options: Unpack[JitOptions]) -> Callable[[Kernel], Dispatcher[Kernel]]:
    """``numba.njit`` with this backend's cache setting; caching is dropped, not fatal,
    when numba finds no writable place for this file.

    numba ignores the kernels' annotations (it types every call from its arguments); they
    are for the type checker, which sees a dispatcher called like the function it compiles."""

    def wrap(function: Kernel) -> Dispatcher[Kernel]:
        try:
            return numba.njit(cache=CACHE, **options)(function)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return numba.njit(cache=False, **options)(function)

    return wrap


def num_threads() -> int:
    return int(numba.get_num_threads())
