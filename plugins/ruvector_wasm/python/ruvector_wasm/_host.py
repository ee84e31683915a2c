"""Running ``ruvector.wasm`` with wasmtime: engine, instances, fast calls, memory pool, limits.

One ``Engine`` and one compiled ``Module`` per process. Every index gets its own ``Store``
and instance (its own linear memory, memory limit and lock), so a trap or a runaway call in
one index cannot touch another, and indexes on different threads run in parallel (ctypes
releases the GIL while wasm runs).

Calls do not go through ``wasmtime.Func.__call__`` (about 20 us: it asks for the function
type, converts every argument to a ``wasmtime_val_t`` and back, and roots and unroots
values). They go straight to the C API's ``wasmtime_func_call_unchecked`` through a private
ctypes function pointer whose arguments are plain integers: the arguments are packed into a
preallocated ``wasmtime_val_raw_t`` array with one ``struct.pack_into``, and the result is
read back from the same array. Bulk data moves through numpy views of the linear memory
(rebuilt only when the memory grows), results come back in buffers that live as long as the
index.

Limits: a per-store memory limit (``RUVECTOR_WASM_MAX_MEMORY``, bytes, default 2 GiB) and
epoch interruption: a daemon thread ticks the engine's epoch every 50 ms and every call gets
a deadline (``RUVECTOR_WASM_TIMEOUT`` seconds, default 60, plus a per-row allowance for
inserts), so neither hostile bytes nor a bug can hang the host. A trap is raised as a
``WasmTrapError`` (a ``RuvectorError``).
"""

from __future__ import annotations

import atexit
import ctypes
import os
import struct
import threading
import time
from importlib import resources
from typing import Any

import numpy as np
import wasmtime
from wasmtime import _ffi as ffi

from ruvector_core.errors import RuvectorError

WASM_FILE = "ruvector.wasm"
PAGE = 65536
TICK_SECONDS = 0.05
ENV_MAX_MEMORY = "RUVECTOR_WASM_MAX_MEMORY"
ENV_TIMEOUT = "RUVECTOR_WASM_TIMEOUT"
ENV_POOL = "RUVECTOR_WASM_POOL_BYTES"

GREW = 1 << 30  # set in rv_search's result when the linear memory grew during the call


class WasmTrapError(RuvectorError, RuntimeError):
    """The wasm module trapped (a bug, or a limit was hit); the index stays usable."""


class WasmTimeoutError(WasmTrapError, TimeoutError):
    """A call ran past its deadline (``RUVECTOR_WASM_TIMEOUT``) and was interrupted."""


class WasmMemoryError(RuvectorError, MemoryError):
    """The wasm memory limit (``RUVECTOR_WASM_MAX_MEMORY``) leaves no room; nothing changed."""


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {raw!r}")
    return value


# -- the C API, called with plain integers -----------------------------------------------------


def _cfunc(name: str, restype: Any, *argtypes: Any) -> Any:
    fn = ffi.dll[name]  # a fresh function pointer: wasmtime's own bindings stay as they are
    fn.restype = restype
    fn.argtypes = argtypes
    return fn


_vp, _sz, _u64 = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint64
_CALL = _cfunc("wasmtime_func_call_unchecked", _vp, _vp, _vp, _vp, _sz, _vp)
_MEM_DATA = _cfunc("wasmtime_memory_data", _vp, _vp, _vp)
_MEM_SIZE = _cfunc("wasmtime_memory_data_size", _sz, _vp, _vp)
_SET_DEADLINE = _cfunc("wasmtime_context_set_epoch_deadline", None, _vp, _u64)

_RAW_SLOT = ctypes.sizeof(ffi.wasmtime_val_raw_t)  # 16 bytes per argument / result
_CODES = {"i32": "I", "i64": "Q", "f32": "f", "f64": "d"}


def _pack_format(kinds: list[str]) -> struct.Struct:
    parts = []
    for kind in kinds:
        code = _CODES[kind]
        parts.append(code + f"{_RAW_SLOT - struct.calcsize(code)}x")
    return struct.Struct("<" + "".join(parts))


# -- engine, module, epoch ticker -------------------------------------------------------------


class _Shared:
    """The process-wide engine, compiled module and epoch ticker."""

    def __init__(self) -> None:
        config = wasmtime.Config()
        config.epoch_interruption = True
        config.cranelift_opt_level = "speed"
        self.engine = wasmtime.Engine(config)
        wasm = resources.files(__package__).joinpath(WASM_FILE).read_bytes()
        self.module = wasmtime.Module(self.engine, wasm)
        self.max_memory = int(_env_number(ENV_MAX_MEMORY, 2 * 1024**3))
        self.timeout = _env_number(ENV_TIMEOUT, 60.0)
        self.pool_bytes = int(_env_number(ENV_POOL, 32 * 1024**2))
        #: deadline allowance per inserted row / batch query on top of ``timeout``
        self.per_row = 0.01
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="ruvector-wasm-epoch", daemon=True)
        self._ticker.start()
        atexit.register(self.shutdown)

    def _tick(self) -> None:
        engine = self.engine
        while not self._stop.wait(TICK_SECONDS):
            engine.increment_epoch()

    def ticks(self, seconds: float) -> int:
        return max(2, int(seconds / TICK_SECONDS) + 1)

    def shutdown(self) -> None:
        self._stop.set()
        if self._ticker.is_alive() and self._ticker is not threading.current_thread():
            self._ticker.join(timeout=1.0)


_shared: _Shared | None = None
_shared_lock = threading.Lock()


def shared() -> _Shared:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = _Shared()
        return _shared


# -- one instance --------------------------------------------------------------------------------


class _Export:
    __slots__ = ("func", "addr", "pack", "slots", "result")

    def __init__(self, func: wasmtime.Func, ty: wasmtime.FuncType) -> None:
        self.func = func  # keeps the wasmtime_func_t alive
        self.addr = ctypes.addressof(func._func)
        params = [str(p) for p in ty.params]
        results = [str(r) for r in ty.results]
        self.pack = _pack_format(params).pack_into
        self.slots = max(len(params), len(results), 1)
        self.result = results[0] if results else None


class Instance:
    """One store + instance of the module, with its lock, memory views and buffer pool.

    Every method that touches the store must be called with ``lock`` held.
    """

    def __init__(self) -> None:
        sh = shared()
        self.shared = sh
        self.lock = threading.RLock()
        self.store = wasmtime.Store(sh.engine)
        self.store.set_limits(memory_size=sh.max_memory)
        self.store.set_epoch_deadline(sh.ticks(sh.timeout))
        self.instance = wasmtime.Instance(self.store, sh.module, [])
        exports = self.instance.exports(self.store)
        self.ctx = ctypes.cast(self.store._context(), ctypes.c_void_p).value
        self.memory: wasmtime.Memory = exports["memory"]
        self.mem_addr = ctypes.addressof(self.memory._memory)
        self.fn: dict[str, _Export] = {}
        for name in exports:
            ext = exports[name]
            if isinstance(ext, wasmtime.Func):
                self.fn[name] = _Export(ext, ext.type(self.store))
        self.raw = (ffi.wasmtime_val_raw_t * 8)()
        self.raw_addr = ctypes.addressof(self.raw)
        self.raw_i32 = (ctypes.c_int32 * 32).from_buffer(self.raw)
        self.raw_f32 = (ctypes.c_float * 32).from_buffer(self.raw)
        self.trap = ctypes.c_void_p()
        self.trap_addr = ctypes.addressof(self.trap)
        self.rearm_at = 0.0
        self.base = 0
        self.size = 0
        self.u8 = self.f32 = self.u32 = np.zeros(0, np.uint8)
        self.refresh()
        self.pool = MemoryPool(self, sh.pool_bytes)
        self.call("rv_init")

    # -- calls --------------------------------------------------------------------------

    def call(self, name: str, *args: Any, seconds: float | None = None) -> Any:
        """Calls an export with a fresh deadline; traps become ``WasmTrapError``."""
        ex = self.fn[name]
        self.arm(seconds)
        ex.pack(self.raw, 0, *args)
        self.trap.value = None
        err = _CALL(self.ctx, ex.addr, self.raw_addr, ex.slots, self.trap_addr)
        if err or self.trap.value:
            self._raise(name, err)
        self.refresh()
        if ex.result == "i32":
            return self.raw_i32[0]
        if ex.result == "f32":
            return self.raw_f32[0]
        return None

    def search_call(self, fn: _Export, h: int, q_ptr: int, k: int, ef: int, out: int) -> int:
        """The search fast path: no deadline refresh unless half of it has passed, no
        memory check unless the module says the memory grew."""
        if time.monotonic() > self.rearm_at:
            self.arm()
        fn.pack(self.raw, 0, h, q_ptr, k, ef, out)
        self.trap.value = None
        err = _CALL(self.ctx, fn.addr, self.raw_addr, fn.slots, self.trap_addr)
        if err or self.trap.value:
            self._raise("rv_search", err)
        result = self.raw_i32[0]
        if result & GREW:
            self.refresh()
            result &= ~GREW
        return result

    def arm(self, seconds: float | None = None) -> None:
        """Give the next calls ``seconds`` (default: the timeout) before they are interrupted."""
        seconds = seconds or self.shared.timeout
        _SET_DEADLINE(self.ctx, self.shared.ticks(seconds))
        self.rearm_at = time.monotonic() + seconds / 2 if seconds >= self.shared.timeout else 0.0

    def _raise(self, name: str, err: int | None) -> None:
        if err:
            error = wasmtime.WasmtimeError._from_ptr(ctypes.cast(err, ctypes.POINTER(ffi.wasmtime_error_t)))
            message = str(error)
        else:
            trap = wasmtime.Trap._from_ptr(ctypes.cast(self.trap.value, ctypes.POINTER(ffi.wasm_trap_t)))
            self.trap.value = None
            message = trap.message
            code = trap.trap_code
            if code == wasmtime.TrapCode.INTERRUPT:
                raise WasmTimeoutError(f"wasm call {name} ran past its deadline and was interrupted")
        try:
            self.refresh()
            detail = self.error() if "unreachable" in message else ""
        except Exception:  # the memory may be unusable after the trap; the message is enough
            detail = ""
        raise WasmTrapError(
            f"wasm call {name} trapped: {message.splitlines()[0] if message else 'trap'}"
            + (f" ({detail})" if detail else "")
        )

    def error(self) -> str:
        ptr, length = self.call("rv_error_ptr"), self.call("rv_error_len")
        return bytes(self.u8[ptr : ptr + length]).decode("utf-8", "replace")

    # -- memory ----------------------------------------------------------------------------

    def refresh(self) -> None:
        """Rebuild the numpy views of the linear memory if it moved or grew."""
        base = _MEM_DATA(self.ctx, self.mem_addr) or 0
        size = _MEM_SIZE(self.ctx, self.mem_addr)
        if base != self.base or size != self.size:
            self.base, self.size = base, size
            if size:
                buf = (ctypes.c_uint8 * size).from_address(base)
                self.u8 = np.frombuffer(buf, dtype=np.uint8)
            else:
                self.u8 = np.zeros(0, np.uint8)
            usable = size - size % 4
            self.f32 = self.u8[:usable].view(np.float32)
            self.u32 = self.u8[:usable].view(np.uint32)

    def write(self, ptr: int, data: np.ndarray | bytes) -> None:
        if isinstance(data, np.ndarray):
            raw = data.reshape(-1).view(np.uint8)
            self.u8[ptr : ptr + raw.size] = raw
        else:
            self.u8[ptr : ptr + len(data)] = np.frombuffer(data, np.uint8)

    def read(self, ptr: int, nbytes: int) -> bytes:
        return self.u8[ptr : ptr + nbytes].tobytes()

    def alloc(self, nbytes: int) -> int:
        ptr = self.call("rv_alloc", nbytes)
        if ptr == 0:
            self.pool.clear()
            ptr = self.call("rv_alloc", nbytes)
            if ptr == 0:
                raise WasmMemoryError(
                    f"the wasm memory limit ({self.shared.max_memory} bytes) leaves no room for {nbytes} bytes"
                )
        return ptr

    def free(self, ptr: int, nbytes: int) -> None:
        self.call("rv_free", ptr, nbytes)

    def headroom(self, nbytes: int) -> None:
        """Make sure ``nbytes`` can be allocated, clearing the pool if needed."""
        if self.call("rv_headroom", nbytes):
            return
        self.pool.clear()
        if not self.call("rv_headroom", nbytes):
            raise WasmMemoryError(
                f"the wasm memory limit ({self.shared.max_memory} bytes, {ENV_MAX_MEMORY}) leaves no room for "
                f"{nbytes} more bytes; the index is unchanged"
            )


class MemoryPool:
    """Reusable buffers in one instance's linear memory.

    Buffers come in power-of-two size classes (at least 64 bytes). A released buffer is
    zeroed (nothing of one call's data is visible to the next) and kept for reuse while the
    pool holds at most ``max_bytes``; beyond that, and whenever an allocation or a headroom
    check fails ("pressure"), pooled buffers go back to the module's allocator.
    """

    MIN = 64

    def __init__(self, instance: Instance, max_bytes: int) -> None:
        self.instance = instance
        self.max_bytes = max_bytes
        self.free_lists: dict[int, list[int]] = {}
        self.pooled = 0
        self.in_use = 0
        self.peak = 0
        self.acquired = 0
        self.hits = 0
        self.clears = 0

    @classmethod
    def size_class(cls, nbytes: int) -> int:
        return max(cls.MIN, 1 << max(0, nbytes - 1).bit_length())

    def acquire(self, nbytes: int) -> tuple[int, int]:
        """A zeroed buffer of at least ``nbytes``: (pointer, capacity)."""
        cap = self.size_class(nbytes)
        self.acquired += 1
        bucket = self.free_lists.get(cap)
        if bucket:
            ptr = bucket.pop()
            self.pooled -= cap
            self.hits += 1
        else:
            ptr = self.instance.alloc(cap)
        self.in_use += cap
        self.peak = max(self.peak, self.in_use)
        return ptr, cap

    def release(self, ptr: int, cap: int) -> None:
        self.in_use -= cap
        inst = self.instance
        inst.u8[ptr : ptr + cap] = 0
        if self.pooled + cap <= self.max_bytes:
            self.free_lists.setdefault(cap, []).append(ptr)
            self.pooled += cap
        else:
            inst.free(ptr, cap)

    def clear(self) -> None:
        """Return every pooled buffer to the module's allocator."""
        self.clears += 1
        lists, self.free_lists = self.free_lists, {}
        self.pooled = 0
        for cap, ptrs in lists.items():
            for ptr in ptrs:
                self.instance.free(ptr, cap)

    def forget(self) -> None:
        """Drop the bookkeeping (the instance it pointed into is gone)."""
        self.free_lists = {}
        self.pooled = self.in_use = 0

    def stats(self) -> dict[str, int]:
        return {
            "acquired": self.acquired,
            "reused": self.hits,
            "pooled_bytes": self.pooled,
            "in_use_bytes": self.in_use,
            "peak_in_use_bytes": self.peak,
            "clears": self.clears,
            "max_pooled_bytes": self.max_bytes,
        }
