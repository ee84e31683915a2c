"""The unchecked call path: the only place the host touches wasmtime-py internals.

Why: ``wasmtime.Func.__call__``, the public way to call an export, asks the engine for the
function's type on every call (a C call and a ``FuncType`` built from it), converts every
argument to a ``wasmtime_val_t`` and back, and roots and unroots the values; wasmtime-py 50
has no cheaper public call. Measured with wasmtime-py 50.0.1 on CPython 3.11, 2-core x86-64,
an index of 10,700 x 384 (M=16), thread CPU time, best of 5, both paths timed in one process
on the same instance (``_calls.PublicCalls`` against ``UncheckedCalls``), public path
against this one:

* a no-op export (``rv_pages``), the bare call: 8.6-9.0 us against 0.67 us;
* the same through ``Instance.call`` (deadline and memory check): 12.5 us against 2.1 us;
* a whole search at ef=32, k=10: 120-127 us against 71-73 us (the public path is 1.7x).

How: the C API's ``wasmtime_func_call_unchecked`` through a ctypes function pointer of this
module's own (wasmtime-py's bindings stay as they are) whose arguments are plain integers.
The arguments are packed into a preallocated ``wasmtime_val_raw_t`` array by one
``struct.pack_into`` and the result is read back from the same array; the memory's address
and size and the epoch deadline go through the C API with the store's context pointer,
taken once. Traps and errors are raised as the same ``wasmtime.Trap`` and
``wasmtime.WasmtimeError`` the public path raises.

The internals used: ``wasmtime._ffi`` (``dll``, ``wasmtime_val_raw_t``, ``wasmtime_error_t``,
``wasm_trap_t``), ``Store._context()``, ``Func._func``, ``Memory._memory``,
``Trap._from_ptr`` and ``WasmtimeError._from_ptr``. ``_calls`` imports this module only on
the wasmtime series it checks for; every other version runs on the public path.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

from . import abi
from ._calls import Call


def _cfunc(name: str, restype: Any, *argtypes: Any) -> Any:
    fn = ffi.dll[name]  # a fresh function pointer: wasmtime-py's own bindings stay as they are
    fn.restype = restype
    fn.argtypes = argtypes
    return fn


_vp, _sz, _u64 = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint64
_CALL = _cfunc("wasmtime_func_call_unchecked", _vp, _vp, _vp, _vp, _sz, _vp)
_MEM_DATA = _cfunc("wasmtime_memory_data", _vp, _vp, _vp)
_MEM_SIZE = _cfunc("wasmtime_memory_data_size", _sz, _vp, _vp)
_SET_DEADLINE = _cfunc("wasmtime_context_set_epoch_deadline", None, _vp, _u64)

_SLOT = ctypes.sizeof(ffi.wasmtime_val_raw_t)  # 16 bytes per argument / result
_SLOTS = max(max(len(e.params), 1) for e in abi.EXPORTS)
_STRUCT_CODES = {"i32": "I", "i64": "Q", "f32": "f"}


def _packer(params: tuple[abi.Param, ...]) -> struct.Struct:
    """The arguments' layout in the raw array: each in its own slot, little-endian."""
    codes = (_STRUCT_CODES[p.type] for p in params)
    return struct.Struct("<" + "".join(f"{code}{_SLOT - struct.calcsize(code)}x" for code in codes))


class UncheckedCalls:
    """Calls into one store's instance through ``wasmtime_func_call_unchecked``."""

    def __init__(self, store: wasmtime.Store, memory: wasmtime.Memory) -> None:
        self._store = store  # keeps the context pointer valid
        self._memory = memory
        self._ctx = ctypes.cast(store._context(), ctypes.c_void_p).value
        self._mem = ctypes.addressof(memory._memory)
        self._funcs: list[wasmtime.Func] = []  # keep the wasmtime_func_t structs alive
        self._raw = (ffi.wasmtime_val_raw_t * _SLOTS)()
        self._results: dict[str | None, Any] = {
            "i32": (ctypes.c_int32 * 1).from_buffer(self._raw),
            "i64": (ctypes.c_int64 * 1).from_buffer(self._raw),
            "f32": (ctypes.c_float * 1).from_buffer(self._raw),
            None: None,
        }
        self._trap = ctypes.c_void_p()

    def bind(self, func: wasmtime.Func, export: abi.Export[Any]) -> Call:
        self._funcs.append(func)
        ctx, addr, slots = self._ctx, ctypes.addressof(func._func), max(len(export.params), 1)
        raw, raw_addr, pack = self._raw, ctypes.addressof(self._raw), _packer(export.params).pack_into
        trap, trap_addr = self._trap, ctypes.addressof(self._trap)
        result = self._results[export.result]
        error = self._error

        def call(*args: int) -> Any:
            pack(raw, 0, *args)
            trap.value = None
            err = _CALL(ctx, addr, raw_addr, slots, trap_addr)
            if err or trap.value:
                raise error(err)
            return None if result is None else result[0]

        return call

    def memory(self) -> tuple[int, int]:
        return _MEM_DATA(self._ctx, self._mem) or 0, _MEM_SIZE(self._ctx, self._mem)

    def set_deadline(self, ticks: int) -> None:
        _SET_DEADLINE(self._ctx, ticks)

    def _error(self, err: int | None) -> Exception:
        """The ``WasmtimeError`` or ``Trap`` a failed call left, owning (and freeing) it."""
        if err:
            return wasmtime.WasmtimeError._from_ptr(ctypes.cast(err, ctypes.POINTER(ffi.wasmtime_error_t)))
        trap = wasmtime.Trap._from_ptr(ctypes.cast(self._trap, ctypes.POINTER(ffi.wasm_trap_t)))
        self._trap.value = None
        return trap
