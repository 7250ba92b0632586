"""Math intrinsics for TVM's ``c`` target that TVM lowers only for LLVM.

TVM 0.27 lowers ``fabs``, ``fma`` and ``exp2`` for LLVM only: the C code generator then fails
("Unresolved call tirx.fabs"). ``round`` is lowered to C's ``roundf`` by default, which rounds
halves away from zero, while TVM (and ONNX) round halves to even: on the C target it becomes
``nearbyintf`` (the default rounding mode is to nearest, ties to even). Importing this module
registers the rules, for the ``c`` target only.
"""

from __future__ import annotations

from tvm import tirx
import tvm.tirx.op  # noqa: F401

_C_NAMES = {"tirx.fabs": "fabs", "tirx.fma": "fma", "tirx.exp2": "exp2", "tirx.round": "nearbyint"}
_LEVEL = 20  # above TVM's own registrations


def _extern(name: str):
    def lower(op):
        dtype = op.ty.dtype if hasattr(op, "ty") else op.dtype
        if str(dtype) == "float32":
            return tirx.call_pure_extern(dtype, name + "f", *op.args)
        if str(dtype) == "float64":
            return tirx.call_pure_extern(dtype, name, *op.args)
        return op

    return lower


def register() -> None:
    for op_name, c_name in _C_NAMES.items():
        tirx.op.register_intrin_lowering(op_name, target="c", f=_extern(c_name), level=_LEVEL)


register()
