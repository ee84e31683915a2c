"""Running ``ruvector.wasm`` with wasmtime: engine, instances, typed calls, memory views, limits.

One ``Engine`` and one compiled ``Module`` per process; the module is checked against the
ABI description (``abi``) when it is compiled. Every index gets its own ``Store`` and
instance (its own linear memory, memory limit and lock), so a trap or a runaway call in one
index cannot touch another, and indexes on different threads run in parallel (ctypes
releases the GIL while wasm runs).

Calls are bound from ``abi.EXPORTS`` through ``_calls`` (the unchecked path where the
wasmtime version allows, the public API elsewhere). A call whose result is its export's
``fails_with`` raises the error its ``rv_error_code`` maps to (``abi.ERRORS``). Bulk data moves
through numpy views of the linear memory, rebuilt only when the memory moved or grew.

Limits: a per-store memory limit (``RUVECTOR_WASM_MAX_MEMORY``, bytes, default and at most
2 GiB: the host reads the module's pointers as signed i32) and epoch interruption: a daemon
thread ticks the engine's epoch every 50 ms and every call gets a deadline
(``RUVECTOR_WASM_TIMEOUT`` seconds, default 60, plus a per-row allowance for inserts), so
neither hostile bytes nor a bug can hang the host. A trap is raised as a ``WasmTrapError``.

Address space (``RUVECTOR_WASM_RESERVE``): by default wasmtime reserves 4 GiB plus guards
for every linear memory, so that no access needs a bounds check; that costs nothing but
address space, and makes an instance impossible under an address-space limit
(``ulimit -v``, ``RLIMIT_AS``) of a few GiB. So the reservation is chosen when the engine is
made: "static" (4 GiB, no bounds checks) when the process's address space is unlimited,
"dynamic" (only what the memory uses plus ``GROWTH_RESERVE``; a memory that outgrows it is
moved, and every access is bounds-checked) when it is limited.
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import mmap
import os
import sys
import threading
import time
from collections.abc import Callable
from importlib import resources
from types import TracebackType
from typing import Any, TypeVar, cast

import numpy as np
import wasmtime

from ruvector_core.errors import RuvectorError

from . import abi
from ._calls import TRAPS, open_calls
from ._pool import MemoryPool
from .errors import WasmMemoryError, WasmTimeoutError, WasmTrapError

R = TypeVar("R")

WASM_FILE = "ruvector.wasm"
TICK_SECONDS = 0.05
MAX_MEMORY = 2**31
ENV_MAX_MEMORY = "RUVECTOR_WASM_MAX_MEMORY"
ENV_TIMEOUT = "RUVECTOR_WASM_TIMEOUT"
ENV_POOL = "RUVECTOR_WASM_POOL_BYTES"
ENV_RESERVE = "RUVECTOR_WASM_RESERVE"
RESERVE_MODES = ("auto", "static", "dynamic")
#: Address space a "dynamic" memory keeps beyond its size to grow in place; past it, the
#: memory moves (a copy). 256 MiB: a few moves for an index of a GiB, and several indexes
#: fit under a 4 GiB address-space limit.
GROWTH_RESERVE = 256 * 1024**2


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


PAGE = mmap.PAGESIZE


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def address_space_limited() -> bool:
    """Whether this process runs under a finite address-space limit (``RLIMIT_AS``)."""
    if sys.platform == "win32":
        return False
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return soft != resource.RLIM_INFINITY


def reservation_mode() -> str:
    """ "static" or "dynamic": ``RUVECTOR_WASM_RESERVE``, or for "auto" (the default) dynamic
    exactly when the address space is limited."""
    raw = os.environ.get(ENV_RESERVE, "").strip().lower() or "auto"
    if raw not in RESERVE_MODES:
        raise ValueError(f"{ENV_RESERVE} must be one of {', '.join(RESERVE_MODES)}, got {raw!r}")
    if raw == "auto":
        return "dynamic" if address_space_limited() else "static"
    return raw


def configure_memories(config: wasmtime.Config, mode: str) -> None:
    """Size the address space reserved for each linear memory (see the module docstring)."""
    if mode == "dynamic":
        config.memory_reservation = 0
        config.memory_reservation_for_growth = GROWTH_RESERVE


def signatures(module: wasmtime.Module) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """The module's exported functions: name -> (parameter types, result types)."""
    out = {}
    for export in module.exports:
        ty = export.type
        if isinstance(ty, wasmtime.FuncType):
            out[export.name] = (tuple(map(str, ty.params)), tuple(map(str, ty.results)))
    return out


def check_module(module: wasmtime.Module) -> None:
    """Fail unless the module exports exactly the functions of ``abi.EXPORTS``, typed as
    there, and its memory as ``abi.MEMORY``."""
    want = {e.name: (tuple(p.type for p in e.params), (e.result,) if e.result else ()) for e in abi.EXPORTS}
    got = signatures(module)
    wrong = sorted(name for name in want.keys() | got.keys() if want.get(name) != got.get(name))
    if not any(e.name == abi.MEMORY and isinstance(e.type, wasmtime.MemoryType) for e in module.exports):
        wrong.append(abi.MEMORY)
    if wrong:
        raise RuvectorError(f"{WASM_FILE} does not match the ABI this host was built for: {', '.join(wrong)}")


# -- engine, module, epoch ticker -------------------------------------------------------------


class _Shared:
    """The process-wide engine, compiled module and epoch ticker."""

    def __init__(self) -> None:
        config = wasmtime.Config()
        config.epoch_interruption = True
        config.cranelift_opt_level = "speed"
        self.reservation = reservation_mode()
        configure_memories(config, self.reservation)
        self.engine = wasmtime.Engine(config)
        wasm = resources.files(__package__).joinpath(WASM_FILE).read_bytes()
        self.module = wasmtime.Module(self.engine, wasm)
        check_module(self.module)
        self.max_memory = min(int(_env_number(ENV_MAX_MEMORY, MAX_MEMORY)), MAX_MEMORY)
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


class Instance:
    """One store + instance of the module, with its lock, bound calls, memory views and pool.

    Every method that touches the store must be called with ``lock`` held.
    """

    def __init__(self, floor: float = 0.0) -> None:
        sh = shared()
        self.shared = sh
        #: the least deadline any call gets (seconds): raised while an index is recovered
        self.floor = floor
        self.lock = threading.RLock()
        self.store = wasmtime.Store(sh.engine)
        self.store.set_limits(memory_size=sh.max_memory)
        self.store.set_epoch_deadline(sh.ticks(sh.timeout))
        try:
            instance = wasmtime.Instance(self.store, sh.module, [])
        except wasmtime.WasmtimeError as exc:  # the address space for its memory was refused
            message = str(exc).splitlines()[0]
            raise WasmMemoryError(
                f"a wasm instance could not be created ({message}); with the {sh.reservation!r} reservation of "
                f"{ENV_RESERVE}; 'dynamic' reserves only what the memory uses"
            ) from None
        exports = instance.exports(self.store)
        # check_module made sure of the exports' kinds and types
        self.calls = open_calls(self.store, cast(wasmtime.Memory, exports[abi.MEMORY]))
        self.fn = {e.name: self.calls.bind(cast(wasmtime.Func, exports[e.name]), e) for e in abi.EXPORTS}
        self.rearm_at = 0.0
        self.base = 0
        self.size = 0
        self.u8 = self.f32 = self.u32 = np.zeros(0, np.uint8)
        self.refresh()
        self.pool = MemoryPool(self, sh.pool_bytes)
        self.call(abi.INIT)

    # -- calls --------------------------------------------------------------------------

    def call(self, export: abi.Export[R], *args: int, seconds: float | None = None) -> R:
        """Calls ``export`` with a fresh deadline of ``seconds`` (default: the timeout).

        A trap is a ``WasmTrapError`` (``WasmTimeoutError`` past the deadline); a failure the
        module reports (``export.fails_with``) is the error its code maps to.
        """
        self.arm(seconds)
        try:
            result = self.fn[export.name](*args)
        except TRAPS as exc:
            raise self._trap_error(export, exc) from None
        self.refresh()
        if export.fails_with is not None and result == export.fails_with:
            raise self.failure()
        return cast(R, result)

    def search(self, export: abi.Export[int], *args: int) -> int:
        """A single-query search (``rv_search``, ``rv_search_filtered``) without the per-call
        costs of ``call``: the deadline is renewed only once half of it has passed, the memory
        views only when the module says it grew."""
        if time.monotonic() > self.rearm_at:
            self.arm()
        try:
            result: int = self.fn[export.name](*args)
        except TRAPS as exc:
            raise self._trap_error(export, exc) from None
        if result == abi.FAILED:
            raise self.failure()
        if result & abi.GREW:
            self.refresh()
            result &= ~abi.GREW
        return result

    def arm(self, seconds: float | None = None) -> None:
        """Give the next calls ``seconds`` (default: the timeout) before they are interrupted."""
        seconds = max(seconds or self.shared.timeout, self.floor)
        self.calls.set_deadline(self.shared.ticks(seconds))
        self.rearm_at = time.monotonic() + seconds / 2 if seconds >= self.shared.timeout else 0.0

    def failure(self) -> RuvectorError:
        """The error for the call that just reported a failure, from its code and message."""
        code, message = self.call(abi.ERROR_CODE), self.error_message()
        try:
            return abi.ERRORS[abi.ErrorCode(code)](message)
        except (ValueError, KeyError):
            return WasmTrapError(f"the wasm module reported a failure with error code {code}: {message}")

    def error_message(self) -> str:
        ptr, length = self.call(abi.ERROR_PTR), self.call(abi.ERROR_LEN)
        return bytes(self.u8[ptr : ptr + length]).decode("utf-8", "replace")

    def _trap_error(self, export: abi.Export[Any], exc: Exception) -> WasmTrapError:
        name = export.name
        if not isinstance(exc, wasmtime.Trap):
            return WasmTrapError(f"wasm call {name} failed: {exc}")
        code = exc.trap_code
        if code == wasmtime.TrapCode.INTERRUPT:
            return WasmTimeoutError(f"wasm call {name} ran past its deadline and was interrupted")
        message = exc.message.splitlines()[0] if exc.message else "trap"
        if code == wasmtime.TrapCode.UNREACHABLE:  # a panic aborts: its hook left the message
            try:
                self.refresh()
                if self.call(abi.ERROR_CODE) == abi.ErrorCode.PANIC:
                    message += f" ({self.error_message()})"
            except Exception:  # the memory may be unusable after the trap; the message is enough
                pass
        return WasmTrapError(f"wasm call {name} trapped: {message}")

    # -- memory ----------------------------------------------------------------------------

    def refresh(self) -> None:
        """Rebuild the numpy views of the linear memory if it moved or grew."""
        base, size = self.calls.memory()
        if base != self.base or size != self.size:
            self.base, self.size = base, size
            if size:
                buf = (ctypes.c_uint8 * size).from_address(base)
                self.u8 = np.frombuffer(memoryview(buf), dtype=np.uint8)
            else:
                self.u8 = np.zeros(0, np.uint8)
            usable = size - size % 4
            self.f32 = self.u8[:usable].view(np.float32)
            self.u32 = self.u8[:usable].view(np.uint32)

    def resident_bytes(self) -> int:
        """Bytes of the linear memory the process really holds: its pages in RAM (mincore).

        The memory only grows, and pages the module's allocator once used stay resident
        after it frees them (arrays outgrown by an insert, buffers of a save), while pages
        it grew into without touching cost nothing; so neither the arrays' sizes nor the
        memory's size is what the index holds. Where mincore is unavailable: the size.
        """
        base, size = self.base, self.size
        if size == 0 or not sys.platform.startswith("linux"):
            return size
        pages = -(-size // PAGE)
        resident = (ctypes.c_ubyte * pages)()
        if _libc().mincore(ctypes.c_void_p(base), ctypes.c_size_t(size), resident) != 0:
            return size
        return PAGE * int(np.count_nonzero(np.frombuffer(memoryview(resident), np.uint8) & 1))

    def write(self, ptr: int, data: np.ndarray | bytes) -> None:
        if isinstance(data, np.ndarray):
            raw = data.reshape(-1).view(np.uint8)
            self.u8[ptr : ptr + raw.size] = raw
        else:
            self.u8[ptr : ptr + len(data)] = np.frombuffer(data, np.uint8)

    def read(self, ptr: int, nbytes: int) -> bytes:
        return self.u8[ptr : ptr + nbytes].tobytes()

    def alloc(self, nbytes: int) -> int:
        return self._with_room(abi.ALLOC, nbytes)

    def free(self, ptr: int, nbytes: int) -> None:
        self.call(abi.FREE, ptr, nbytes)

    def headroom(self, nbytes: int) -> None:
        """Make sure ``nbytes`` can be allocated, clearing the pool if needed."""
        self._with_room(abi.HEADROOM, nbytes)

    def roomy_call(self, export: abi.Export[R], *args: int, seconds: float | None = None) -> R:
        """``call`` for an export that allocates; when the memory limit refuses, give the
        pooled buffers back to the module's allocator and try once more."""
        try:
            return self.call(export, *args, seconds=seconds)
        except WasmMemoryError:
            self.pool.clear()
        return self.call(export, *args, seconds=seconds)

    def _with_room(self, export: abi.Export[int], nbytes: int) -> int:
        """Call an export that needs ``nbytes`` of memory (``roomy_call``)."""
        try:
            return self.roomy_call(export, nbytes)
        except WasmMemoryError:
            raise WasmMemoryError(
                f"the wasm memory limit ({self.shared.max_memory} bytes, {ENV_MAX_MEMORY}) leaves no room for "
                f"{nbytes} more bytes; nothing changed"
            ) from None

    def scratch(self, on_trap: Callable[[], None] | None = None) -> Scratch:
        """Temporary buffers under the lock: ``with inst.scratch() as (inst, acquire)``."""
        return Scratch(self, on_trap)


class Scratch:
    """The instance's lock held and ``acquire(nbytes)``, giving pool buffers of at least
    ``nbytes`` that are released on the way out. After a trap they are not released: the
    caller abandons the instance for a fresh one (``on_trap``, called once the lock is let
    go), and the buffers go with it.

    A class rather than a generator context manager: kernel calls take a few microseconds,
    and a generator's setup and teardown would be a good part of that.
    """

    __slots__ = ("inst", "on_trap", "buffers")

    def __init__(self, inst: Instance, on_trap: Callable[[], None] | None) -> None:
        self.inst = inst
        self.on_trap = on_trap
        self.buffers: list[tuple[int, int]] = []

    def __enter__(self) -> tuple[Instance, Callable[[int], int]]:
        self.inst.lock.acquire()
        return self.inst, self.acquire

    def acquire(self, nbytes: int) -> int:
        buffer = self.inst.pool.acquire(nbytes)
        self.buffers.append(buffer)
        return buffer[0]

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        trapped = kind is not None and issubclass(kind, WasmTrapError)
        try:
            if not trapped:
                release = self.inst.pool.release
                for ptr, cap in self.buffers:
                    release(ptr, cap)
        finally:
            self.inst.lock.release()
        if trapped and self.on_trap is not None:
            self.on_trap()
