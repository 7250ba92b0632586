"""FloatExactDepthwise: int8 depthwise convolutions computed exactly in float32 arithmetic.

A depthwise convolution has no reduction over channels, so the dot-product instructions
(``DotProductConv``) do not apply, and its int32 kernel multiplies with ``vpmulld``/``mul``
(slow on every CPU). But its sums are short: each output is ``KH * KW`` products of an
8-bit activation and an 8-bit weight. In float32 every such product (at most 255 * 128 <
2^15) and every partial sum is an integer below 2^24, so float32 represents all of them
exactly and the float kernel gives the very integers the int32 kernel gives:

    out[n, y, x, c] = int32( sum_{kh, kw} float32(a[n, y*s + kh*d, x*s + kw*d, c])
                                          * Wf[kh, kw, c] )

with ``Wf[kh, kw, c] = float32(W[c, kh, kw, 0])`` (channels last, so that one vector load
reads L channels' weights). The pass checks the bound per model: ``max|a| * sum |W[c]| <
2^24`` for every channel (always true for kernels up to 7x7 and far beyond); a convolution
that could exceed it keeps the int32 kernel. The float kernel is scheduled like any other
(``TiledReduction``: vectors along channels, fused fp32 multiply-adds).

Matches an NHWC ``conv2d`` (OHWI weights ``[C, KH, KW, 1]``, groups = C, no implicit
padding) of int8/uint8 data with constant int8 weights accumulating in int32, as
``QDQToInteger`` makes it. Runs in the lower phase, on LLVM targets, before LegalizeOps.
"""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax, te
from tvm.relax.expr_functor import PyExprMutator, mutator

from edgec.passes.bindings import constant_array, ints, make_constant, static_shape
from edgec.passes.rewrite_driver import mutate_functions
from edgec.passes.rewrite_log import record

PRIMFUNC_NAME = "depthwise_conv2d_f32"
REWRITTEN = "depthwise conv2d on exact float32 arithmetic (int8 data)"
EXACT_BELOW = 1 << 24  # float32 holds every integer up to 2^24


def depthwise_compute(x: te.Tensor, wf: te.Tensor, strides, dilation, out_shape) -> te.Tensor:
    """NHWC depthwise ``conv2d`` over float weights ``wf[kh, kw, c]``; int32 result."""
    kh, kw, _ = (int(d) for d in wf.shape)
    sh, sw = strides
    dh, dw = dilation
    ry = te.reduce_axis((0, kh), name="ry")
    rx = te.reduce_axis((0, kw), name="rx")
    acc = te.compute(
        out_shape,
        lambda n, y, xx, c: te.sum(
            x[n, y * sh + ry * dh, xx * sw + rx * dw, c].astype("float32") * wf[ry, rx, c],
            axis=[ry, rx]),
        name=PRIMFUNC_NAME)
    return te.compute(out_shape, lambda *i: acc(*i).astype("int32"), name="to_int32")


def _weights(call: relax.Call) -> np.ndarray | None:
    """The conv's ``[C, KH, KW, 1]`` int8 weights when the call qualifies, else None."""
    if not isinstance(call.op, tvm.ir.Op) or call.op.name != "relax.nn.conv2d":
        return None
    attrs = call.attrs
    x, weight = call.args
    if (str(attrs.data_layout) != "NHWC" or str(attrs.kernel_layout) != "OHWI"
            or str(attrs.out_layout) != "NHWC" or any(ints(attrs.padding))):
        return None
    w = constant_array(weight)
    shape = static_shape(x)
    if w is None or w.ndim != 4 or shape is None or static_shape(call) is None:
        return None
    channels = shape[3]
    if int(attrs.groups) != channels or w.shape[0] != channels or w.shape[3] != 1:
        return None
    dtype = str(x.ty.dtype)
    if dtype not in ("int8", "uint8") or str(w.dtype) != "int8" or str(call.ty.dtype) != "int32":
        return None
    largest = 255 if dtype == "uint8" else 128
    if largest * int(np.abs(w.astype(np.int64)).sum(axis=(1, 2, 3)).max()) >= EXACT_BELOW:
        return None
    return w


@mutator
class _Rewriter(PyExprMutator):
    def __init__(self, mod: tvm.IRModule):
        super().__init__(mod)
        self.count = 0

    def visit_call_(self, call: relax.Call) -> relax.Expr:  # noqa: N802 - TVM's visitor name
        call = super().visit_call_(call)
        weights = _weights(call)
        if weights is None:
            return call
        wf = np.ascontiguousarray(weights[:, :, :, 0].transpose(1, 2, 0)).astype(np.float32)
        self.count += 1
        return self.builder_.call_te(
            depthwise_compute, call.args[0], make_constant(wf, "float32"),
            strides=ints(call.attrs.strides), dilation=ints(call.attrs.dilation),
            out_shape=static_shape(call), primfunc_name_hint=PRIMFUNC_NAME)


@tvm.transform.module_pass(opt_level=0, name="FloatExactDepthwise")
class FloatExactDepthwise:
    """See the module docstring."""

    def transform_module(self, mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        target = tvm.target.Target.current(allow_none=True)
        if target is not None and target.kind.name != "llvm":
            return mod
        rewriter = _Rewriter(mod)
        out = mutate_functions(mod, rewriter)
        if rewriter.count:
            record(REWRITTEN, rewriter.count)
        return out
