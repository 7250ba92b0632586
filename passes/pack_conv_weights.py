"""PackConvWeights: a convolution whose output rows do not fill whole SIMD registers gets its
weights packed at compile time so that its kernel vectorizes along output channels instead.

The default conv2d kernel (``TiledReduction``) puts the SIMD lanes along the output width. On
the small feature maps of a CNN (56, 28, 14, 7 wide in ResNet; the digits model's 8 and 4) a
row fills a fraction of an AVX-512 register, or leaves a masked tail. With the weights stored

    W[co, ci, kh, kw]  ->  Wp[co // L, ci, kh, kw, co % L]          (L = SIMD lanes, fp32)

one vector load gives the weights of L output channels at one tap, and the kernel keeps a
block of output pixels x L channels in registers: one weight load feeds a dozen FMAs, each
with its input pixel broadcast (MLAS and oneDNN block their direct convolutions this way).

Applies to NCHW/OIHW conv2d with constant weights (float32, or int8 weights on int8/uint8
data accumulating in int32, as ``QDQToInteger`` makes them), one group, output channels a
multiple of L and output width not a multiple of L, on LLVM targets; the packed weights replace the
originals (same values, reordered: results agree to rounding). The kernel is a TE function
``conv2d_packed`` that FuseOps fuses with its bias and activation like any conv2d.
"""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax, te, topi
from tvm.relax.expr_functor import PyExprMutator, mutator

from edgec.passes.bindings import constant_array, ints, make_constant, static_shape
from edgec.passes.rewrite_log import record

PRIMFUNC_NAME = "conv2d_packed"


def _lanes() -> int:
    target = tvm.target.Target.current(allow_none=True)
    if target is None or target.kind.name != "llvm":
        return 0
    from edgec.schedules.target_info import vector_lanes

    return vector_lanes(target)


def packed_conv2d_compute(x: te.Tensor, wp: te.Tensor, strides, padding, dilation,
                          out_shape, out_dtype: str = "float32") -> te.Tensor:
    """``conv2d`` over packed weights ``wp[co // L, ci, kh, kw, co % L]`` (NCHW in and out);
    int8 operands are widened to ``out_dtype`` (int32) before the multiply."""
    _, ci, _, _ = x.shape
    _, _, kh, kw, lanes = (int(d) for d in wp.shape)
    top, left, bottom, right = padding
    data = topi.nn.pad(x, [0, 0, top, left], [0, 0, bottom, right]) \
        if any(padding) else x
    sh, sw = strides
    dh, dw = dilation
    rc = te.reduce_axis((0, ci), name="rc")
    ry = te.reduce_axis((0, kh), name="ry")
    rx = te.reduce_axis((0, kw), name="rx")
    return te.compute(
        out_shape,
        lambda n, o, y, xx: te.sum(
            data[n, rc, y * sh + ry * dh, xx * sw + rx * dw].astype(out_dtype)
            * wp[o // lanes, rc, ry, rx, o % lanes].astype(out_dtype), axis=[rc, ry, rx]),
        name=PRIMFUNC_NAME)


def pack_weights(weight: np.ndarray, lanes: int) -> np.ndarray:
    """``W[co, ci, kh, kw]`` -> ``Wp[co // lanes, ci, kh, kw, co % lanes]``."""
    co, ci, kh, kw = weight.shape
    return np.ascontiguousarray(
        weight.reshape(co // lanes, lanes, ci, kh, kw).transpose(0, 2, 3, 4, 1))


def _packable_weights(call: relax.Call, lanes: int) -> np.ndarray | None:
    """The conv2d's constant weights when the call qualifies (module docstring), else None."""
    if not isinstance(call.op, tvm.ir.Op) or call.op.name != "relax.nn.conv2d":
        return None
    attrs = call.attrs
    x, weight = call.args
    if (str(attrs.data_layout) != "NCHW" or str(attrs.kernel_layout) != "OIHW"
            or str(attrs.out_layout) != "NCHW" or int(attrs.groups) != 1):
        return None
    w = constant_array(weight)
    in_shape, out_shape = static_shape(x), static_shape(call)
    if w is None or w.ndim != 4 or in_shape is None or out_shape is None:
        return None
    kinds = (str(x.ty.dtype), str(w.dtype), str(call.ty.dtype))
    if kinds not in (("float32", "float32", "float32"), ("int8", "int8", "int32"),
                     ("uint8", "int8", "int32")):
        return None
    # Rows that fill whole vectors keep the width-vector kernel (no packing needed there).
    return w if w.shape[0] % lanes == 0 and out_shape[3] % lanes != 0 else None


@mutator
class _Packer(PyExprMutator):
    def __init__(self, mod: tvm.IRModule, lanes: int):
        super().__init__(mod)
        self.lanes = lanes
        self.count = 0

    def visit_call_(self, call: relax.Call) -> relax.Expr:  # noqa: N802 - TVM's visitor name
        call = super().visit_call_(call)
        weights = _packable_weights(call, self.lanes)
        if weights is None:
            return call
        attrs = call.attrs
        packed = pack_weights(weights, self.lanes)
        self.count += 1
        return self.builder_.call_te(
            packed_conv2d_compute, call.args[0], make_constant(packed, str(weights.dtype)),
            strides=ints(attrs.strides), padding=ints(attrs.padding),
            dilation=ints(attrs.dilation), out_shape=static_shape(call),
            out_dtype=str(call.ty.dtype), primfunc_name_hint=PRIMFUNC_NAME)


@tvm.transform.module_pass(opt_level=0, name="PackConvWeights")
class PackConvWeights:
    """See the module docstring."""

    def transform_module(self, mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        lanes = _lanes()
        if lanes < 4:
            return mod
        packer = _Packer(mod, lanes)
        for gv, func in list(mod.functions.items()):
            if isinstance(func, relax.Function):
                packer.builder_.update_func(gv, packer.visit_expr(func))
        if not packer.count:
            return mod
        record("packed conv2d weights (vectors along output channels)", packer.count)
        return packer.builder_.get()
