"""A software prefetch for numba code: ``prefetch(array2d, row, column)``.

It lowers to LLVM's ``llvm.prefetch`` (read, high locality) of the address of
``array2d[row, column]``; it never faults, so a stale index is harmless. The search
issues it for the next neighbour's vector while it computes the current distance, as
hnswlib does with ``_mm_prefetch``.
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic


@intrinsic
def prefetch(typingctx, array, row, column):
    if not (isinstance(array, types.Array) and array.ndim == 2):
        return None
    sig = types.void(array, row, column)

    def codegen(context, builder, signature, args):
        array_type, row_type, column_type = signature.args
        ary = context.make_array(array_type)(context, builder, args[0])
        indices = [
            context.cast(builder, args[1], row_type, types.intp),
            context.cast(builder, args[2], column_type, types.intp),
        ]
        pointer = cgutils.get_item_pointer2(
            context,
            builder,
            data=ary.data,
            shape=cgutils.unpack_tuple(builder, ary.shape),
            strides=cgutils.unpack_tuple(builder, ary.strides),
            layout=array_type.layout,
            inds=indices,
        )
        byte_pointer = builder.bitcast(pointer, ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        function_type = ir.FunctionType(ir.VoidType(), [byte_pointer.type, i32, i32, i32])
        function = cgutils.get_or_insert_function(builder.module, function_type, "llvm.prefetch.p0")
        builder.call(function, [byte_pointer, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen
