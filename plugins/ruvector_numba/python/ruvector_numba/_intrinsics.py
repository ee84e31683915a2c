"""LLVM intrinsics for numba code.

``prefetch(array2d, row, column)`` lowers to LLVM's ``llvm.prefetch`` (read, high
locality) of the address of ``array2d[row, column]``; it never faults, so a stale index is
harmless. The search issues it for the next neighbour's vector while it computes the
current distance, as hnswlib does with ``_mm_prefetch``.

``popcount(word)`` lowers to ``llvm.ctpop.i64``: one instruction where the CPU has one
(the Hamming distance of binary codes, a 64-bit word at a time).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic
from numpy.typing import NDArray

if TYPE_CHECKING:
    from numba.core.typing.context import BaseContext as TypingContext
    from numba.core.typing.templates import Signature


class _TargetContext(Protocol):
    """The part of numba's target context (``numba.core.base.BaseContext``, whose methods
    carry no annotations) that the code generator uses."""

    def make_array(self, typ: types.Type) -> Callable[[_TargetContext, ir.IRBuilder, ir.Value], Any]: ...

    def cast(self, builder: ir.IRBuilder, val: ir.Value, fromty: types.Type, toty: types.Type) -> ir.Value: ...

    def get_dummy_value(self) -> ir.Value: ...


Codegen = Callable[[_TargetContext, ir.IRBuilder, "Signature", Sequence[ir.Value]], ir.Value]


def _prefetch(
    typingctx: TypingContext, array: types.Type, row: types.Type, column: types.Type
) -> tuple[Signature, Codegen] | None:
    """numba's typing of ``prefetch(array, row, column)``: the signature and the code
    generator, or None (no match) unless ``array`` is two-dimensional."""
    if not (isinstance(array, types.Array) and array.ndim == 2):
        return None
    sig = types.void(array, row, column)

    def codegen(
        context: _TargetContext, builder: ir.IRBuilder, signature: Signature, args: Sequence[ir.Value]
    ) -> ir.Value:
        array_type, row_type, column_type = signature.args
        ary = context.make_array(array_type)(context, builder, args[0])
        indices = [
            context.cast(builder, args[1], row_type, types.intp),
            context.cast(builder, args[2], column_type, types.intp),
        ]
        # Only strict checking reports calls into numba's unannotated cgutils: hence unused-ignore.
        pointer = cgutils.get_item_pointer(  # type: ignore[no-untyped-call, unused-ignore]  # cgutils is unannotated
            context, builder, array_type, ary, indices
        )
        byte_pointer = builder.bitcast(pointer, ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        function_type = ir.FunctionType(ir.VoidType(), [byte_pointer.type, i32, i32, i32])
        function = cgutils.get_or_insert_function(  # type: ignore[no-untyped-call, unused-ignore]  # cgutils is unannotated
            builder.module, function_type, "llvm.prefetch.p0"
        )
        builder.call(function, [byte_pointer, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


# numba calls the typing function with its typing context first; compiled code calls the
# intrinsic with the remaining arguments, which is what this type states (numba's stub
# gives an intrinsic the typing function's own signature, and a call that never returns).
prefetch = cast(Callable[[NDArray[Any], int, int], None], intrinsic(_prefetch))


def _popcount(typingctx: TypingContext, word: types.Type) -> tuple[Signature, Codegen] | None:
    """numba's typing of ``popcount(word)`` for a 64-bit integer: its set bits, as uint64."""
    if not (isinstance(word, types.Integer) and word in (types.int64, types.uint64)):
        return None
    sig = types.uint64(word)

    def codegen(
        context: _TargetContext, builder: ir.IRBuilder, signature: Signature, args: Sequence[ir.Value]
    ) -> ir.Value:
        i64 = ir.IntType(64)
        function = cgutils.get_or_insert_function(  # type: ignore[no-untyped-call, unused-ignore]  # cgutils is unannotated
            builder.module, ir.FunctionType(i64, [i64]), "llvm.ctpop.i64"
        )
        return builder.call(function, [args[0]])

    return sig, codegen


popcount = cast(Callable[[int], int], intrinsic(_popcount))
