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
