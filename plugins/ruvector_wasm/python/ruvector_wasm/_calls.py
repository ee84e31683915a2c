"""How the host calls an instance's exports, finds its linear memory and sets its deadline.

Two implementations of one small interface, ``Calls``: ``PublicCalls`` uses wasmtime-py's
public API only; ``UncheckedCalls`` (in ``_unchecked``, the one module that touches
wasmtime-py internals) is several times cheaper per call, and is used only on the wasmtime
series it was written and measured against (``UNCHECKED_SERIES``). On any other version the
host runs on the public path, slower but correct.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable
from importlib.metadata import version
from typing import Any, Protocol

import wasmtime

from .abi import Export

#: An export bound to one instance: a function of the export's arguments.
Call = Callable[..., Any]
#: What a bound call raises when the module traps (``Trap``) or the engine fails the call.
TRAPS = (wasmtime.Trap, wasmtime.WasmtimeError)
#: The wasmtime-py series whose internals ``_unchecked`` uses.
UNCHECKED_SERIES = "50."


def unchecked_supported(wasmtime_version: str) -> bool:
    """Whether ``_unchecked`` may be used with this wasmtime-py version."""
    return wasmtime_version.startswith(UNCHECKED_SERIES)


#: Whether new instances call through ``_unchecked`` (the tests switch it to compare paths).
USE_UNCHECKED = unchecked_supported(version("wasmtime"))


class Calls(Protocol):
    def bind(self, func: wasmtime.Func, export: Export[Any]) -> Call:
        """``func`` as a function of ``export``'s arguments (i32 arguments are 0 .. 2**32 - 1)
        returning its result, raising one of ``TRAPS``."""
        ...

    def memory(self) -> tuple[int, int]:
        """The address and the size in bytes of the linear memory now."""
        ...

    def set_deadline(self, ticks: int) -> None:
        """Interrupt calls that run ``ticks`` epoch ticks from now."""
        ...


class PublicCalls:
    """wasmtime-py's public API: ``Func.__call__``, ``Memory.data_ptr``, ``Store.set_epoch_deadline``."""

    def __init__(self, store: wasmtime.Store, memory: wasmtime.Memory) -> None:
        self._store = store
        self._memory = memory

    def bind(self, func: wasmtime.Func, export: Export[Any]) -> Call:
        return functools.partial(func, self._store)

    def memory(self) -> tuple[int, int]:
        base = ctypes.cast(self._memory.data_ptr(self._store), ctypes.c_void_p).value or 0
        return base, self._memory.data_len(self._store)

    def set_deadline(self, ticks: int) -> None:
        self._store.set_epoch_deadline(ticks)


def open_calls(store: wasmtime.Store, memory: wasmtime.Memory) -> Calls:
    """The fastest call path this wasmtime version allows, for one store and its memory."""
    if USE_UNCHECKED:
        from ._unchecked import UncheckedCalls  # imports wasmtime internals: only on the measured series

        return UncheckedCalls(store, memory)
    return PublicCalls(store, memory)
