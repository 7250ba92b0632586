"""ONNX Runtime's QOperator nodes as the QDQ form ``quantize(op(dequantize(...)))``.

``onnxruntime.quantization`` writes quantized models in two formats: QDQ (float operators
between QuantizeLinear / DequantizeLinear pairs, which TVM imports as such) and QOperator
(``QLinearConv``, ``QLinearMatMul`` and the com.microsoft ``QGemm``, ``QLinearAdd``,
``QLinearMul``, ``QLinearGlobalAveragePool``, ``QLinearConcat``, ``QLinearSigmoid``,
``QLinearLeakyRelu``), which TVM does not import at all. Each becomes its defining float
computation between dequantize and quantize, exactly as the operator's specification states it:

    QLinearConv(x, sx, zx, w, sw, zw, sy, zy, B) = quantize(conv(dq(x), dq(w)) + B * sx * sw)

so one rewrite (``passes/qdq_to_integer.py``) turns both formats into integer kernels, and
what it cannot fuse still computes the right numbers in float. The float operator itself is
built by TVM's converter for the plain ONNX operator (Conv, MatMul, Gemm), so attributes mean
what they mean there.
"""

from __future__ import annotations

import numpy as np
from tvm import relax

from edgec.frontend.converters.common import refuse
from edgec.passes.bindings import constant_array, make_constant


def _dq(x, scale, zero, axis: int = -1):
    if zero is None:
        zero = relax.const(0, str(x.ty.dtype))
    return relax.op.dequantize(x, scale, zero, axis=axis, out_dtype="float32")


def _q(y, scale, zero, axis: int = -1):
    dtype = str(zero.ty.dtype) if zero is not None else "uint8"
    if zero is None:
        zero = relax.const(0, dtype)
    return relax.op.quantize(y, scale, zero, axis=axis, out_dtype=dtype)


def _tvm(op: str, bb, inputs, attr: dict, opset: int):
    """TVM's converter for the plain ONNX operator ``op``."""
    from tvm.relax.frontend.onnx.onnx_frontend import _get_convert_map

    converter = _get_convert_map()[op].get_converter(max(opset, 13))
    inputs = [None if x is None else bb.normalize(x) for x in inputs]
    return bb.normalize(converter(bb, inputs, attr, None))


def _padded(inputs, count: int) -> list:
    return list(inputs) + [None] * (count - len(inputs))


def _bias(op: str, attr: dict, bias, x_scale, w_scale):
    """An int32 bias with scale ``sx * sw`` (per output channel) as a float constant."""
    values, sx, sw = (constant_array(e) for e in (bias, x_scale, w_scale))
    if values is None or sx is None or sw is None:
        raise refuse(op, attr, "has a bias or scales that are not constants",
                     "export the model with constant initializers")
    scale = sx.astype(np.float32).reshape(-1) * sw.astype(np.float32).reshape(-1)
    return make_constant(values.astype(np.float64) * scale.astype(np.float64), "float32")


def convert_qlinear_conv(bb: relax.BlockBuilder, inputs, attr: dict, opset: int):
    x, sx, zx, w, sw, zw, sy, zy, bias = _padded(inputs, 9)
    if len(x.ty.shape.values) != 4:
        raise refuse("QLinearConv", attr, "is not two-dimensional",
                     "only 2-D quantized convolutions are supported")
    conv = _tvm("Conv", bb, [_dq(x, sx, zx), _dq(w, sw, zw, axis=0), None], attr, opset)
    if bias is not None:
        conv = relax.op.add(conv, relax.op.reshape(_bias("QLinearConv", attr, bias, sx, sw),
                                                   [1, -1, 1, 1]))
    return _q(bb.normalize(conv), sy, zy, axis=1)


def convert_qlinear_matmul(bb: relax.BlockBuilder, inputs, attr: dict, opset: int):
    a, sa, za, b, sb, zb, sy, zy = _padded(inputs, 8)
    return _q(_tvm("MatMul", bb, [_dq(a, sa, za), _dq(b, sb, zb, axis=-1)], attr, opset),
              sy, zy, axis=-1)


def convert_qgemm(bb: relax.BlockBuilder, inputs, attr: dict, opset: int):
    a, sa, za, b, sb, zb, c, sy, zy = _padded(inputs, 9)
    trans_b = bool(attr.get("transB", 0))
    dq_b = _dq(b, sb, zb, axis=0 if trans_b else 1)
    bias = _bias("QGemm", attr, c, sa, sb) if c is not None else None
    gemm_attr = {k: v for k, v in attr.items() if k in ("alpha", "transA", "transB")}
    y = _tvm("Gemm", bb, [_dq(a, sa, za), dq_b, bias], gemm_attr, opset)
    return y if sy is None else _q(y, sy, zy, axis=-1)


def _binary(op):
    def convert(bb: relax.BlockBuilder, inputs, attr: dict, opset: int):
        a, sa, za, b, sb, zb, sc, zc = _padded(inputs, 8)
        return _q(bb.normalize(op(_dq(a, sa, za), _dq(b, sb, zb))), sc, zc)

    return convert


convert_qlinear_add = _binary(relax.op.add)
convert_qlinear_mul = _binary(relax.op.multiply)


def convert_qlinear_global_average_pool(bb: relax.BlockBuilder, inputs, attr: dict,
                                        opset: int):
    x, sx, zx, sy, zy = _padded(inputs, 5)
    rank = len(x.ty.shape.values)
    axes = list(range(1, rank - 1)) if attr.get("channels_last", 0) else list(range(2, rank))
    return _q(bb.normalize(relax.op.mean(_dq(x, sx, zx), axes, keepdims=True)), sy, zy)


def convert_qlinear_concat(bb: relax.BlockBuilder, inputs, attr: dict, opset: int):
    sy, zy, *rest = inputs
    if len(rest) % 3:
        raise refuse("QLinearConcat", attr, "has inputs that are not (x, scale, zero point) "
                     "triples", "re-export the model")
    parts = [_dq(rest[i], rest[i + 1], rest[i + 2]) for i in range(0, len(rest), 3)]
    return _q(bb.normalize(relax.op.concat(parts, axis=int(attr.get("axis", 1)))), sy, zy)


def _unary(op):
    def convert(bb: relax.BlockBuilder, inputs, attr: dict, opset: int):
        x, sx, zx, sy, zy = _padded(inputs, 5)
        return _q(bb.normalize(op(_dq(x, sx, zx), attr)), sy, zy)

    return convert


convert_qlinear_sigmoid = _unary(lambda x, attr: relax.op.sigmoid(x))
convert_qlinear_leaky_relu = _unary(
    lambda x, attr: relax.op.nn.leakyrelu(x, float(attr.get("alpha", 0.01))))


def convert_conv_integer(bb: relax.BlockBuilder, inputs, attr: dict, opset: int):
    """ConvInteger (2-D): ``conv(x - x_zero, w - w_zero)`` in int32 (padding with the zero
    point, which is 0 after the shift); ``w_zero`` per tensor or per output channel."""
    x, w, zx, zw = _padded(inputs, 4)
    shape = [int(d) for d in x.ty.shape.values]
    kernel = [int(d) for d in w.ty.shape.values]
    if len(shape) != 4:
        raise refuse("ConvInteger", attr, "is not two-dimensional",
                     "only 2-D integer convolutions are supported")

    def shifted(value, zero):
        value = relax.op.astype(value, "int32")
        if zero is None:
            return value
        zero = bb.normalize(zero)
        per_channel = int(np.prod([int(d) for d in zero.ty.shape.values], dtype=np.int64)) > 1
        zero = bb.normalize(relax.op.astype(zero, "int32"))
        if per_channel:
            zero = relax.op.reshape(zero, [-1, 1, 1, 1])
        return relax.op.subtract(value, zero)

    strides = [int(v) for v in attr.get("strides", [1, 1])]
    dilations = [int(v) for v in attr.get("dilations", [1, 1])]
    pads = [int(v) for v in attr.get("pads", [0, 0, 0, 0])]
    auto_pad = attr.get("auto_pad", "NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0, 0, 0, 0]
        for i in range(2):
            out = -(-shape[2 + i] // strides[i])
            total = max(0, (out - 1) * strides[i] + (kernel[2 + i] - 1) * dilations[i] + 1
                        - shape[2 + i])
            small = total // 2
            pads[i], pads[2 + i] = (small, total - small) if auto_pad == "SAME_UPPER" \
                else (total - small, small)
    elif auto_pad == "VALID":
        pads = [0, 0, 0, 0]
    return relax.op.nn.conv2d(bb.normalize(shifted(x, zx)), bb.normalize(shifted(w, zw)),
                              strides=strides, padding=pads, dilation=dilations,
                              groups=int(attr.get("group", 1)), out_dtype="int32")
