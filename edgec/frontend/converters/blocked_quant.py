"""Blocked ``QuantizeLinear`` / ``DequantizeLinear`` (``block_size`` > 0, opset 21 on): one
scale and zero point per block of ``block_size`` consecutive elements along ``axis`` (the form
int4/int8 weight-only exports use). TVM's converter refuses the blocked form; here the scale
and zero point are repeated over their blocks and the formulas are ONNX's:
``y = (x - zero) * scale`` and ``y = saturate(round_half_even(x / scale) + zero)``.
Per-tensor and per-axis forms go on to TVM's converter, as before."""

from __future__ import annotations

import onnx
from tvm import relax
from tvm.relax import op

from edgec.frontend.converters.common import optional_input, refuse
from edgec.passes.bindings import static_shape
from edgec.passes.ops import round_even

_KNOWN = {"axis", "block_size", "output_dtype", "saturate", "tvm_custom"}
_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767),
           "uint16": (0, 65535), "int32": (-2 ** 31, 2 ** 31 - 1)}


def _expand(bb, value, axis: int, block: int, size: int):
    value = op.repeat(value, block, axis=axis)
    have = static_shape(bb.normalize(value))[axis]
    if have != size:
        value = op.strided_slice(value, [axis], [0], [size])
    return bb.normalize(value)


def broadcast_parameter(bb, value, shape, axis: int, block: int):
    """A scale or zero point shaped to broadcast against an input of ``shape``: per tensor as
    it is, per axis along ``axis``, blocked repeated over its blocks."""
    if block:
        return _expand(bb, value, axis, block, shape[axis])
    dims = static_shape(bb.normalize(value))
    if len(dims) == 0 or (len(dims) == 1 and dims[0] == 1) or len(shape) <= 1:
        return value
    return op.reshape(value, [dims[0] if i == axis else 1 for i in range(len(shape))])


def _blocked(name: str, attrs: dict):
    block = int(attrs.get("block_size", 0) or 0)
    unknown = set(attrs) - _KNOWN
    if block and unknown:
        raise refuse(name, attrs, f"has attribute(s) {', '.join(sorted(unknown))}",
                     "edgec converts blocked quantization with axis, block_size, "
                     "output_dtype and saturate")
    return block


def _operands(inputs, attrs: dict):
    """(x, scale, zero point or None, x's static shape, the normalized axis)."""
    x, scale, zero = inputs[0], inputs[1], optional_input(inputs, 2)
    shape = static_shape(x)
    return x, scale, zero, shape, int(attrs.get("axis", 1)) % len(shape)


def convert_dequantize_linear(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    block = _blocked("DequantizeLinear", attrs)
    if not block:
        return None  # TVM's converter
    x, scale, zero, shape, axis = _operands(inputs, attrs)
    dtype = str(scale.ty.dtype)
    scale = _expand(bb, scale, axis, block, shape[axis])
    value = op.astype(x, "float32")
    if zero is not None:
        value = op.subtract(value, op.astype(_expand(bb, zero, axis, block, shape[axis]),
                                             "float32"))
    result = op.multiply(value, op.astype(scale, "float32"))
    return result if dtype == "float32" else op.astype(result, dtype)


def convert_quantize_linear(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    block = _blocked("QuantizeLinear", attrs)
    if not block:
        return None  # TVM's converter
    x, scale, zero, shape, axis = _operands(inputs, attrs)
    if zero is not None:
        out_dtype = str(zero.ty.dtype)
    elif attrs.get("output_dtype"):
        out_dtype = str(onnx.helper.tensor_dtype_to_np_dtype(int(attrs["output_dtype"])))
    else:
        out_dtype = "uint8"
    if out_dtype not in _RANGES:
        raise refuse("QuantizeLinear", attrs, f"quantizes to {out_dtype}",
                     "edgec quantizes to 8, 16 and 32-bit integers")
    scale = op.astype(_expand(bb, scale, axis, block, shape[axis]), "float32")
    value = round_even(op.divide(op.astype(x, "float32"), scale))
    if zero is not None:
        value = op.add(value, op.astype(_expand(bb, zero, axis, block, shape[axis]), "float32"))
    lo, hi = _RANGES[out_dtype]
    value = op.clip(value, relax.prim_value(float(lo)), relax.prim_value(float(hi)))
    return op.astype(value, out_dtype)



