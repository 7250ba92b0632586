"""QuantizeWeights: weight-only int8 / int4 for matrix multiplications with constant weights.

For models whose time and size are in their matrix multiplications (transformers, recurrent
networks, MLP heads), the weights are stored in 8 or 4 bits and dequantized inside the kernel,
in registers; activations stay float32, so no calibration data is needed:

    int8 (one scale per output column n, symmetric):
        s[n] = max_k |W[k, n]| / 127,   Q[k, n] = clip(round(W[k, n] / s[n]), -127, 127)
        y[.., n] = s[n] * sum_k x[.., k] * Q[k, n]

    int4 (one scale per group of G rows of each column, symmetric, two values per byte):
        s[g, n] = r max_{k in g} |W[k, n]| / 7,  Q[k, n] = clip(round(W / s[k // G, n]), -8, 7)
        (r in 0.7..1 chosen per group for the least squared error: clipping the largest
        weights a little rounds the rest finer)
        P[k // 2, n] = (Q[2j, n] + 8) | (Q[2j + 1, n] + 8) << 4
        y[.., n] = sum_k x[.., k] * (((P[k // 2, n] >> 4 (k % 2)) & 15) - 8) * s[k // G, n]

The weights take 4x (int8) or about 6.4x (int4 with G = 32, scales included) less memory than
float32, and a kernel that streams its weights (batch-1 GEMV) reads that much less. The error
is the weights' rounding only (at most s/2 per weight, but for the few int4 weights clipped).

Matches ``matmul(x, W)`` with ``x`` float32 of rank >= 2 and ``W`` a constant float32
``[K, N]`` (ONNX MatMul and Gemm after constant folding: a transposed Gemm weight is a folded
constant by then). Runs at the end of the graph phase (``--quantize int8-weights`` /
``int4-weights``); a no-op on models without such matmuls, idempotent (its kernels are no
longer matmuls).
"""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax, te
from tvm.relax.expr_functor import PyExprMutator, mutator

from edgec.passes.bindings import constant_matmul_weight, make_constant
from edgec.passes.rewrite_driver import mutate_functions
from edgec.passes.rewrite_log import record

PRIMFUNC_NAME = "matmul_weights"
CLIP_RATIOS = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7)  # int4: candidate scales, x max|W| / 7
# rewrite-log keys (the compile report's quantization line): "<int8|int4> matmul (...)"
KERNEL = "{bits} matmul (weight-only{groups})"


def quantize_int8(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``W[K, N]`` -> (``Q`` int8 ``[K, N]``, ``s`` float32 ``[N]``), symmetric per column."""
    top = np.abs(weight).max(axis=0)
    scale = np.where(top > 0, top / 127.0, 1.0).astype(np.float32)
    return np.clip(np.rint(weight / scale), -127, 127).astype(np.int8), scale


def quantize_int4(weight: np.ndarray, group: int) -> tuple[np.ndarray, np.ndarray]:
    """``W[K, N]`` -> (``P`` uint8 ``[ceil(K / 2), N]``, two values per byte, low nibble for
    even k; ``s`` float32 ``[ceil(K / G), N]``), symmetric per group of ``group`` rows."""
    rows, cols = weight.shape
    groups = -(-rows // group)
    padded = np.zeros((groups * group, cols), np.float32)
    padded[:rows] = weight
    blocks = padded.reshape(groups, group, cols)
    top = np.abs(blocks).max(axis=1)
    # 16 levels are few: a scale below max|W| / 7 clips the largest weights a little and
    # rounds all the others finer. Each group takes the clip ratio with the least squared error.
    best_error = np.full(top.shape, np.inf, np.float32)
    scale = np.ones(top.shape, np.float32)
    for ratio in CLIP_RATIOS:
        trial = np.where(top > 0, top * ratio / 7.0, 1.0).astype(np.float32)
        q = np.clip(np.rint(blocks / trial[:, None, :]), -8, 7)
        error = ((q * trial[:, None, :] - blocks) ** 2).sum(axis=1)
        better = error < best_error
        best_error = np.where(better, error, best_error)
        scale = np.where(better, trial, scale)
    values = np.clip(np.rint(blocks / scale[:, None, :]), -8, 7).astype(np.int16)
    values = values.reshape(groups * group, cols)[:rows] + 8
    if rows % 2:
        values = np.concatenate([values, np.full((1, cols), 8, np.int16)])
    packed = values[0::2] | (values[1::2] << 4)
    return packed.astype(np.uint8), scale


def dequantize_int4(packed: np.ndarray, scale: np.ndarray, rows: int, group: int) -> np.ndarray:
    """The float weights ``quantize_int4`` stands for (tests, error reports)."""
    values = np.empty((packed.shape[0] * 2, packed.shape[1]), np.float32)
    values[0::2] = (packed & 15).astype(np.float32) - 8
    values[1::2] = (packed >> 4).astype(np.float32) - 8
    return values[:rows] * np.repeat(scale, group, axis=0)[:rows]


def weights_matmul_int8(x: te.Tensor, q: te.Tensor, scale: te.Tensor) -> te.Tensor:
    *lead, rows = (int(d) for d in x.shape)
    cols = int(q.shape[1])
    k = te.reduce_axis((0, rows), name="k")
    acc = te.compute(
        (*lead, cols),
        lambda *i: te.sum(x[(*i[:-1], k)] * q[k, i[-1]].astype("float32"), axis=k),
        name=PRIMFUNC_NAME)
    return te.compute(acc.shape, lambda *i: acc(*i) * scale[i[-1]], name="scaled")


def weights_matmul_int4(x: te.Tensor, packed: te.Tensor, scale: te.Tensor,
                        group: int) -> te.Tensor:
    *lead, rows = (int(d) for d in x.shape)
    cols = int(packed.shape[1])
    k = te.reduce_axis((0, rows), name="k")

    def weight(kk, n):
        nibble = (packed[kk // 2, n] >> ((kk % 2) * 4).astype("uint8")) & tvm.tirx.const(15,
                                                                                        "uint8")
        return (nibble.astype("float32") - 8.0) * scale[kk // group, n]

    return te.compute(
        (*lead, cols),
        lambda *i: te.sum(x[(*i[:-1], k)] * weight(k, i[-1]), axis=k),
        name=PRIMFUNC_NAME)


@mutator
class _Rewriter(PyExprMutator):
    def __init__(self, mod: tvm.IRModule, bits: int, group: int):
        super().__init__(mod)
        self.bits, self.group = bits, group
        self.count = 0

    def visit_call_(self, call: relax.Call) -> relax.Expr:  # noqa: N802 - TVM's visitor name
        call = super().visit_call_(call)
        weights = constant_matmul_weight(call)
        if weights is None:
            return call
        bb = self.builder_
        x = call.args[0]
        self.count += 1
        if self.bits == 8:
            q, scale = quantize_int8(weights)
            return bb.call_te(weights_matmul_int8, x, make_constant(q, "int8"),
                              make_constant(scale, "float32"), primfunc_name_hint=PRIMFUNC_NAME)
        packed, scale = quantize_int4(weights, self.group)
        return bb.call_te(weights_matmul_int4, x, make_constant(packed, "uint8"),
                          make_constant(scale, "float32"), group=self.group,
                          primfunc_name_hint=PRIMFUNC_NAME)


@tvm.transform.module_pass(opt_level=0, name="QuantizeWeights")
class QuantizeWeights:
    """See the module docstring. ``bits``: 8 or 4; ``group``: rows per int4 scale."""

    def __init__(self, bits: int = 8, group: int = 32):
        if bits not in (4, 8):
            raise ValueError(f"weight-only quantization to {bits} bits: 8 or 4")
        self.bits, self.group = bits, group

    def transform_module(self, mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        rewriter = _Rewriter(mod, self.bits, self.group)
        out = mutate_functions(mod, rewriter)
        if rewriter.count:
            groups = f", groups of {self.group}" if self.bits == 4 else ""
            record(KERNEL.format(bits=f"int{self.bits}", groups=groups), rewriter.count)
        return out
