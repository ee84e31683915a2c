"""The C ABI of ``ruvector.wasm``, described once: every export, the status and error codes, the
metric codes and the sizes the host must agree on with ``rust/src/lib.rs``.

The host binds its calls from this description (``Instance.call(abi.SEARCH, ...)``) and
checks the compiled module against it when it loads; the tests check it against the module's
exports and their wasm types, and against the constants in ``lib.rs``; the Node.js driver is
handed the same numbers. Pure data: importing it needs no wasmtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Generic, Literal, NamedTuple, TypeVar, cast, overload

from ruvector_core import index_format
from ruvector_core.errors import CorruptIndexError, InvalidInputError, ModelError, RuvectorError
from ruvector_core.models import MAX_LEVEL, StorageKind
from ruvector_core.models import METRIC_CODES as METRIC_CODES  # the ABI's metric codes are the core's

from .errors import WasmMemoryError, WasmTrapError

ValType = Literal["i32", "i64", "f32"]
R = TypeVar("R")

# -- statuses and codes ------------------------------------------------------------------------

#: ``rv_index_new``'s storage codes: the format's storage byte, 0 for float32 (version 1).
STORAGE_CODES: dict[StorageKind, int] = {"float32": 0, **index_format.STORAGE_CODES}

#: The status of a call that succeeded.
OK = 0
#: The status (or count) of a call that failed; why is in ``rv_error_*``.
FAILED = -1
#: The handle (or pointer) a failed call returns.
NULL = 0
#: Set in a search's result (a count for ``rv_search*``, the status of ``rv_search_batch*``)
#: when the linear memory grew during the call: the host's views of the memory are stale.
GREW = 1 << 30
#: "No node": the padding of ``rv_search_batch*``'s node rows.
NONE = 0xFFFFFFFF
#: Words ``rv_stats`` writes before the per-level node counts:
#: live, deleted, max_level (as i32), nodes, memory_bytes, levels.
STATS_HEAD_WORDS = 6
#: Words ``rv_stats`` writes at most: the head and one count for each level the format stores.
STATS_WORDS = STATS_HEAD_WORDS + MAX_LEVEL + 1
#: The exported linear memory.
MEMORY = "memory"


class ErrorCode(IntEnum):
    """Why the last failed call failed (``rv_error_code``); ``lib.rs`` names them ``ERR_*``."""

    NONE = 0
    INVALID_INPUT = 1
    CORRUPT_INDEX = 2
    OUT_OF_MEMORY = 3
    PANIC = 4
    BAD_MODEL = 5


#: The error the host raises for each code (a panic also traps: the trap carries its message).
ERRORS: dict[ErrorCode, type[RuvectorError]] = {
    ErrorCode.INVALID_INPUT: InvalidInputError,
    ErrorCode.CORRUPT_INDEX: CorruptIndexError,
    ErrorCode.OUT_OF_MEMORY: WasmMemoryError,
    ErrorCode.PANIC: WasmTrapError,
    ErrorCode.BAD_MODEL: ModelError,
}


# -- exports -------------------------------------------------------------------------------------


class Param(NamedTuple):
    name: str
    type: ValType


@dataclass(frozen=True, slots=True)
class Export(Generic[R]):
    """One exported function: its wasm signature and the result that means it failed.

    ``R`` is the Python type a call returns (``int`` for i32/i64, ``float`` for f32, ``None``
    for no result), so the host's calls are typed from here. Pointers and sizes are i32.
    """

    name: str
    params: tuple[Param, ...]
    result: ValType | None
    #: the result that means failure (``FAILED`` or ``NULL``); None when no result does
    fails_with: int | None


@overload
def _export(name: str, params: str, result: Literal["i32", "i64"], fails_with: int | None = None) -> Export[int]: ...
@overload
def _export(name: str, params: str, result: Literal["f32"]) -> Export[float]: ...
@overload
def _export(name: str, params: str) -> Export[None]: ...
def _export(name: str, params: str, result: ValType | None = None, fails_with: int | None = None) -> Export[Any]:
    """``params``: the parameter names in order, each ``name`` (an i32) or ``name:type``."""
    parsed = []
    for spec in params.split():
        param, _, kind = spec.partition(":")
        parsed.append(Param(param, cast(ValType, kind or "i32")))
    return Export(name, tuple(parsed), result, fails_with)


# memory and errors
ALLOC = _export("rv_alloc", "size", "i32", fails_with=NULL)
FREE = _export("rv_free", "ptr size")
HEADROOM = _export("rv_headroom", "bytes", "i32", fails_with=FAILED)
PAGES = _export("rv_pages", "", "i32")
ERROR_CODE = _export("rv_error_code", "", "i32")
ERROR_PTR = _export("rv_error_ptr", "", "i32")
ERROR_LEN = _export("rv_error_len", "", "i32")
INIT = _export("rv_init", "")
# indexes
INDEX_NEW = _export("rv_index_new", "d m efc efs metric seed:i64 storage floats", "i32", fails_with=NULL)
INDEX_FREE = _export("rv_index_free", "h")
LEN = _export("rv_len", "h", "i32", fails_with=FAILED)
NODE_COUNT = _export("rv_node_count", "h", "i32", fails_with=FAILED)
INSERT_NEED = _export("rv_insert_need", "h n text", "i32", fails_with=NULL)
INSERT = _export("rv_insert", "h text text_len offs n vectors", "i32", fails_with=FAILED)
SEARCH = _export("rv_search", "h query k ef out", "i32", fails_with=FAILED)
SEARCH_BATCH = _export("rv_search_batch", "h queries nq k ef out_nodes out_scores", "i32", fails_with=FAILED)
# the filtered searches: ``allow`` points at ``allow_len`` bytes, one per node, nonzero = allowed
SEARCH_FILTERED = _export("rv_search_filtered", "h query k ef allow allow_len out", "i32", fails_with=FAILED)
SEARCH_BATCH_FILTERED = _export(
    "rv_search_batch_filtered", "h queries nq k ef allow allow_len out_nodes out_scores", "i32", fails_with=FAILED
)
DELETE = _export("rv_delete", "h id len", "i32")  # the node, or FAILED when the id is not there
SERIALIZE = _export("rv_serialize", "h out_len", "i32", fails_with=NULL)
LOAD = _export("rv_load", "data len", "i32", fails_with=NULL)
NODE_IDS = _export("rv_node_ids", "h out_len", "i32", fails_with=NULL)
STATS = _export("rv_stats", "h out", "i32", fails_with=FAILED)
# vector kernels
DISTANCE = _export("rv_distance", "a b d metric", "f32")  # NaN for an unknown metric code
BATCH_DISTANCE = _export("rv_batch_distance", "q m n d metric out", "i32", fails_with=FAILED)
NORMALIZE = _export("rv_normalize", "m n d")
QUANTIZE_INT8 = _export("rv_quantize_int8", "m n d codes scales offsets")
DEQUANTIZE_INT8 = _export("rv_dequantize_int8", "codes n d scales offsets out")
QUANTIZE_BINARY = _export("rv_quantize_binary", "m n d codes scales")
DEQUANTIZE_BINARY = _export("rv_dequantize_binary", "codes n d scales out")
# the sentence encoder (rust/src/encoder.rs): a weight blob in, packed token batches embedded
ENCODER_LOAD = _export("rv_encoder_load", "data len", "i32", fails_with=NULL)
ENCODER_FREE = _export("rv_encoder_free", "h")
ENCODER_DIMS = _export("rv_encoder_dims", "h out", "i32", fails_with=FAILED)  # out: hidden, positions
ENCODER_EMBED = _export("rv_encoder_embed", "h ids n lengths texts out", "i32", fails_with=FAILED)

#: Every exported function, in the order above.
EXPORTS: tuple[Export[Any], ...] = tuple(v for v in list(globals().values()) if isinstance(v, Export))
