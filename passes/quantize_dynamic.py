"""QuantizeDynamic: dynamic int8 for matrix multiplications with constant weights.

The weights are quantized at compile time (int8, symmetric, per output column or per tensor);
the activations are quantized on every call from their own range, as ONNX's
``DynamicQuantizeLinear`` defines it, so no calibration data is needed and no range can be
wrong for an input:

    lo = min(min(x), 0),  hi = max(max(x), 0)
    s_x = (hi - lo) / 255            (1 when hi = lo)
    z_x = round_even(clip(-lo / s_x, 0, 255))
    x_q = clip(round_even(x / s_x) + z_x, 0, 255)                       uint8
    acc = matmul(x_q, W_q) - z_x * sum_k W_q[k, n]                      int32, exact
    y   = float32(acc) * (s_x * s_w[n])

This is the graph ONNX Runtime's ``quantize_dynamic`` writes (DynamicQuantizeLinear ->
MatMulInteger -> Cast -> Mul by ``s_x * s_w``), operation for operation, so the two agree to
the last bit where the arithmetic is the same. The integer matmul (uint8 x int8 -> int32) is
written as a 1x1 NHWC convolution over the rows of ``x``, which DotProductConv then puts on
the board's dot-product instruction (VNNI takes uint8 activations as they are); the
quantization of ``x`` costs two reductions and one elementwise pass.

Matches ``matmul(x, W)`` with ``x`` float32 (rank >= 2) and ``W`` a constant float32
``[K, N]``. Runs at the end of the graph phase (``--quantize int8-dynamic``); a no-op on
models without such matmuls, idempotent (the weights it leaves are int8).
"""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator, mutator

from edgec.passes.bindings import constant_matmul_weight, make_constant
from edgec.passes.dot_product_conv import matmul_as_conv
from edgec.passes.ops import round_even
from edgec.passes.rewrite_driver import mutate_functions
from edgec.passes.rewrite_log import record

KERNEL = "int8 matmul (dynamic activations)"


def weight_scales(weight: np.ndarray, per_channel: bool) -> np.ndarray:
    """Symmetric int8 scales of ``W[K, N]``: ``max|W| / 127`` per column, or one."""
    top = np.abs(weight).max(axis=0) if per_channel else np.abs(weight).max(keepdims=True)
    return np.where(top > 0, top / np.float32(127.0), np.float32(1.0)).astype(np.float32)


def _f32(value: float) -> relax.Constant:
    return relax.const(np.float32(value), "float32")


@mutator
class _Rewriter(PyExprMutator):
    def __init__(self, mod: tvm.IRModule, per_channel: bool):
        super().__init__(mod)
        self.per_channel = per_channel
        self.count = 0

    def visit_call_(self, call: relax.Call) -> relax.Expr:  # noqa: N802 - TVM's visitor name
        call = super().visit_call_(call)
        weights = constant_matmul_weight(call)
        if weights is None:
            return call
        bb, op = self.builder_, relax.op
        x = call.args[0]
        w_scale = weight_scales(weights, self.per_channel)
        w_q = np.clip(np.rint(weights / w_scale), -127, 127).astype(np.int8)
        column_sums = w_q.astype(np.int32).sum(axis=0)

        lo = bb.normalize(op.minimum(op.min(x), _f32(0.0)))
        hi = bb.normalize(op.maximum(op.max(x), _f32(0.0)))
        spread = bb.normalize(op.subtract(hi, lo))
        s_x = bb.normalize(op.where(op.equal(spread, _f32(0.0)), _f32(1.0),
                                    op.divide(spread, _f32(255.0))))
        z_x = bb.normalize(round_even(op.clip(op.negative(op.divide(lo, s_x)), 0.0, 255.0)))
        x_q = op.astype(op.clip(op.add(round_even(op.divide(x, s_x)), z_x), 0.0, 255.0),
                        "uint8")
        acc = matmul_as_conv(bb.normalize(x_q), w_q)
        acc = op.subtract(acc, op.multiply(op.astype(z_x, "int32"),
                                           make_constant(column_sums, "int32")))
        scale = op.multiply(s_x, make_constant(w_scale, "float32"))
        self.count += 1
        return op.multiply(op.astype(acc, "float32"), scale)


@tvm.transform.module_pass(opt_level=0, name="QuantizeDynamic")
class QuantizeDynamic:
    """See the module docstring."""

    def __init__(self, per_channel: bool = True):
        self.per_channel = per_channel

    def transform_module(self, mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        rewriter = _Rewriter(mod, self.per_channel)
        out = mutate_functions(mod, rewriter)
        if rewriter.count:
            record(KERNEL, rewriter.count)
        return out
