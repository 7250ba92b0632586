"""Legalization of ``R.quantize`` (ONNX QuantizeLinear) with the ONNX rounding.

ONNX defines ``y = saturate(round(x / y_scale) + y_zero_point)`` with round-to-nearest, ties to
even; ONNX Runtime and NumPy's ``rint`` round that way. TVM's legalization rounds ties away from
zero, so an input exactly halfway between two steps (0.5 / scale, a common value in images
scaled to [0, 1]) came out one step off ONNX Runtime. Here the kernel is the same elementwise
``te`` compute with ``nearbyint``; per-axis scales and zero points are honoured.

Used through ``LegalizeOps(customize_legalize_map=...)`` in the lower phase, beside
``legalize_reductions``.
"""

from __future__ import annotations

import tvm
from tvm import relax, te


def _param(tensor: te.Tensor, index, axis: int):
    """A scale / zero-point value: one per tensor, or the element for ``index[axis]``."""
    if all(int(d) == 1 for d in tensor.shape):
        return tensor[(0,) * len(tensor.shape)]
    return tensor[index[axis]]


def _quantize(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
    out_dtype = str(call.attrs.out_dtype)
    rank = call.args[0].ty.ndim
    axis = int(call.attrs.axis) % rank if rank else 0

    def compute(x, scale, zero):
        low, high = te.min_value(out_dtype), te.max_value(out_dtype)

        def body(*index):
            s = _param(scale, index, axis).astype("float32")
            z = _param(zero, index, axis).astype("float32")
            value = tvm.tirx.nearbyint(x(*index).astype("float32") / s) + z
            return te.max(te.min(value, high.astype("float32")),
                          low.astype("float32")).astype(out_dtype)

        return te.compute(x.shape, body, name="quantize")

    return bb.call_te(compute, *call.args[:3], primfunc_name_hint="quantize")


QUANTIZE_LEGALIZATIONS = {"relax.quantize": _quantize}
