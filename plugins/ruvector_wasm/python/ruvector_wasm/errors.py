"""The errors only the wasm backend raises; each is a ``RuvectorError`` and the builtin a caller
would catch for the same trouble."""

from __future__ import annotations

from ruvector_core.errors import RuvectorError


class WasmTrapError(RuvectorError, RuntimeError):
    """The wasm module trapped (a bug, or a limit was hit); the index stays usable."""


class WasmTimeoutError(WasmTrapError, TimeoutError):
    """A call ran past its deadline (``RUVECTOR_WASM_TIMEOUT``) and was interrupted."""


class WasmMemoryError(RuvectorError, MemoryError):
    """The wasm memory limit (``RUVECTOR_WASM_MAX_MEMORY``) leaves no room; nothing changed."""
