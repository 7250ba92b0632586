"""DotProductConv: int8 convolutions onto the board's integer dot-product instruction.

On a board with one (``edgec.schedules.int8_dot``: VNNI on x86, sdot or NEON smull on
aarch64), an NHWC ``conv2d`` of int8/uint8 data with constant int8 weights accumulating in int32
(as ``QDQToInteger`` makes it, the zero-point padding already explicit) becomes a TE kernel
over weights packed at compile time so that each instruction reads one contiguous block:

    W[co, kh, kw, ci]  ->  Wp[co // L, kh, kw, ci // 4, co % L, ci % 4]    (L = the ISA's lanes)

    out[n, y, x, co] = sum_{kh, kw, ci} a[n, y*s + kh*d, x*s + kw*d, ci] * Wp[...]

When the instruction multiplies another activation type than the model has (VNNI wants uint8),
the activations are shifted by 128 on the way in (``a + 128``, fused into the producer) and the
shift is taken back in int32 (``- 128 * sum(W[co])``): the result is the same integer. Input
channels that are not a multiple of 4 are padded with zero weights. The kernel is scheduled by
the ``DotProductConv`` schedule rule, which tensorizes it with the instruction.

Each conv takes the board's instruction whose lanes L waste the fewest output channels (the
widest on a tie: VNNI 16 lanes, else 8). Output channels that are not a multiple of L are
padded with zero weights and sliced off after the kernel (``strided_slice``; the epilogue
then runs over the real channels at the kernel's root): a 48 -> 12 conv computes 16 channels
on VNNI and keeps 12, still several times faster than the int32 kernel. Applies when the
layout is NHWC/OHWI, one group and no implicit padding; other int8 convolutions (depthwise,
grouped) keep the int32 kernel (correct, slower).
"""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax, te
from tvm.relax.expr_functor import PyExprMutator, mutator

from edgec.passes.bindings import constant_array, ints, make_constant, static_shape
from edgec.passes.rewrite_driver import mutate_functions
from edgec.passes.rewrite_log import record

PRIMFUNC_NAME = "conv2d_dot"
ISA_ANNOTATION = "edgec_dot_isa"
# rewrite-log key (followed by " (<isa>)"); the schedule rule logs DOT_SCHEDULED per kernel it
# tensorized, which the build checks against the library's instructions
DOT_PACKED = "conv2d weights packed for dot products"
DOT_SCHEDULED = "dot-product kernel"


def matmul_as_conv(x_q: relax.Expr, w_q: np.ndarray) -> relax.Expr:
    """``matmul(x_q, W_q)`` accumulating in int32 (``x_q`` int8/uint8 with a static shape
    ``[..., K]``, ``W_q`` a constant int8 ``[K, N]``), written as the 1x1 NHWC convolution it
    is, the rows of ``x_q`` as pixels: this pass then puts it on the board's dot-product
    instruction like any int8 convolution (where there is none, the int32 conv kernel runs).
    Falls back to ``matmul`` when the shape is not static."""
    shape = static_shape(x_q)
    if shape is None or len(shape) < 2:
        return relax.op.matmul(x_q, make_constant(w_q, "int8"), out_dtype="int32")
    *lead, depth = shape
    columns = w_q.shape[1]
    pixels = relax.op.reshape(x_q, [1, 1, int(np.prod(lead)), depth])
    weights = make_constant(np.ascontiguousarray(w_q.T).reshape(columns, 1, 1, depth), "int8")
    acc = relax.op.nn.conv2d(pixels, weights, data_layout="NHWC", kernel_layout="OHWI",
                             out_layout="NHWC", out_dtype="int32")
    return relax.op.reshape(acc, [*lead, columns])


def dot_conv2d_compute(x: te.Tensor, wp: te.Tensor, strides, dilation, out_shape,
                       isa: str) -> te.Tensor:
    """NHWC ``conv2d`` over packed weights ``wp[co // L, kh, kw, ci // 4, co % L, ci % 4]``."""
    _, kh, kw, groups4, lanes, group = (int(d) for d in wp.shape)
    sh, sw = strides
    dh, dw = dilation
    ry = te.reduce_axis((0, kh), name="ry")
    rx = te.reduce_axis((0, kw), name="rx")
    rc = te.reduce_axis((0, groups4 * group), name="rc")
    return te.compute(
        out_shape,
        lambda n, y, xx, o: te.sum(
            x[n, y * sh + ry * dh, xx * sw + rx * dw, rc].astype("int32")
            * wp[o // lanes, ry, rx, rc // group, o % lanes, rc % group].astype("int32"),
            axis=[ry, rx, rc]),
        name=PRIMFUNC_NAME, attrs={ISA_ANNOTATION: isa})


def pack_dot_weights(weight: np.ndarray, lanes: int, group: int = 4) -> np.ndarray:
    """OHWI ``W[co, kh, kw, ci]`` -> ``Wp[co // lanes, kh, kw, ci // group, co % lanes,
    ci % group]``; input channels padded with zeros to a multiple of ``group``, output
    channels to a multiple of ``lanes``."""
    co, kh, kw, ci = weight.shape
    padded = -(-ci // group) * group
    outputs = -(-co // lanes) * lanes
    weight = np.pad(weight, [(0, outputs - co), (0, 0), (0, 0), (0, padded - ci)])
    return np.ascontiguousarray(
        weight.reshape(outputs // lanes, lanes, kh, kw, padded // group, group)
        .transpose(0, 2, 3, 4, 1, 5))


def choose_isa(isas, out_channels: int):
    """The instruction that wastes the fewest padded output channels; the widest on a tie
    (``isas`` come widest first)."""
    if not isas:
        return None
    return min(isas, key=lambda isa: -(-out_channels // isa.lanes) * isa.lanes - out_channels)


def _weights(call: relax.Call) -> np.ndarray | None:
    """The conv2d's OHWI int8 weights when the call qualifies (module docstring), else None."""
    if not isinstance(call.op, tvm.ir.Op) or call.op.name != "relax.nn.conv2d":
        return None
    attrs = call.attrs
    x, weight = call.args
    if (str(attrs.data_layout) != "NHWC" or str(attrs.kernel_layout) != "OHWI"
            or str(attrs.out_layout) != "NHWC" or int(attrs.groups) != 1
            or any(ints(attrs.padding))):
        return None
    w = constant_array(weight)
    if w is None or w.ndim != 4 or static_shape(x) is None or static_shape(call) is None:
        return None
    if (str(x.ty.dtype) not in ("int8", "uint8") or str(w.dtype) != "int8"
            or str(call.ty.dtype) != "int32"):
        return None
    return w


def _to_activation_type(bb, x: relax.Expr, dtype: str, isa_dtype: str) -> tuple[relax.Expr, int]:
    """``x`` as the instruction's activation type, and the shift that took (0 or +-128)."""
    if dtype == isa_dtype:
        return x, 0
    shift = 128 if isa_dtype == "uint8" else -128
    wide = relax.op.add(relax.op.astype(x, "int16"), relax.const(shift, "int16"))
    return bb.normalize(relax.op.astype(wide, isa_dtype)), shift


@mutator
class _Rewriter(PyExprMutator):
    def __init__(self, mod: tvm.IRModule, isas):
        super().__init__(mod)
        self.isas = isas
        self.counts: dict[str, int] = {}

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def visit_call_(self, call: relax.Call) -> relax.Expr:  # noqa: N802 - TVM's visitor name
        call = super().visit_call_(call)
        weights = _weights(call)
        isa = choose_isa(self.isas, weights.shape[0]) if weights is not None else None
        if isa is None:
            return call
        bb = self.builder_
        x, shift = _to_activation_type(bb, call.args[0], str(call.args[0].ty.dtype),
                                       isa.activation)
        channels = weights.shape[3]
        if channels % isa.group:
            x = bb.normalize(relax.op.nn.pad(
                x, [0, 0, 0, 0, 0, 0, 0, isa.group - channels % isa.group], pad_value=0.0))
        packed = pack_dot_weights(weights, isa.lanes, isa.group)
        attrs = call.attrs
        out_shape = static_shape(call)
        out_channels = out_shape[3]
        padded = packed.shape[0] * isa.lanes
        out = bb.call_te(dot_conv2d_compute, x, make_constant(packed, "int8"),
                         strides=ints(attrs.strides), dilation=ints(attrs.dilation),
                         out_shape=[*out_shape[:3], padded], isa=isa.name,
                         primfunc_name_hint=PRIMFUNC_NAME)
        if padded != out_channels:
            out = bb.normalize(relax.op.strided_slice(out, axes=[3], begin=[0],
                                                      end=[out_channels]))
        self.counts[isa.name] = self.counts.get(isa.name, 0) + 1
        if shift:
            # sum(a + shift) * W = sum(a * W) + shift * sum(W): take the shift back
            taken = -shift * weights.astype(np.int64).sum(axis=(1, 2, 3))
            out = relax.op.add(out, make_constant(taken.astype(np.int32), "int32"))
        return out


@tvm.transform.module_pass(opt_level=0, name="DotProductConv")
class DotProductConv:
    """See the module docstring."""

    def __init__(self, isas=None):
        self.isas = isas  # None: the current target's (``int8_dot.dot_isas``)

    def transform_module(self, mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        from edgec.schedules.int8_dot import dot_isas

        isas = self.isas if self.isas is not None else \
            dot_isas(tvm.target.Target.current(allow_none=True))
        if not isas:
            return mod
        rewriter = _Rewriter(mod, isas)
        out = mutate_functions(mod, rewriter)
        for name, count in rewriter.counts.items():
            record(f"{DOT_PACKED} ({name})", count)
        return out
