"""The operators ``frontend/narrow_types.py`` writes for float8, float4 and 2/4-bit integer
tensors (held as bytes), computed as ONNX defines the conversions:

- to float8/float4: round to nearest, ties to even, on the value's exact binary expansion (in
  float64, which holds every float16/bfloat16/float32 input exactly); ``saturate`` clamps
  out-of-range values and infinities to the largest finite value, else they become infinity
  (E5M2) or NaN (the ``FN``/``FNUZ`` types); float4 always saturates. The FNUZ types have no
  negative zero and one NaN, 0x80.
- to 2/4-bit integers: from floats, truncated toward zero, out-of-range and NaN values 0 (what
  the reference computes); from integers, the low bits (two's complement wrap-around).
- from float8/float4: a 256-entry table of the exact values.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import onnx
from tvm import relax, te, tirx
from tvm.script import tirx as T
from tvm.relax import op

from edgec.frontend.converters.blocked_quant import broadcast_parameter
from edgec.frontend.converters.common import optional_input, refuse
from edgec.passes.bindings import static_shape
from edgec.passes.ops import round_even
from edgec.signature import numpy_dtype, storage_dtype


@dataclasses.dataclass(frozen=True)
class Minifloat:
    """A float format of at most 8 bits: exponent and mantissa widths, bias, largest finite
    value, and its special codes (magnitudes, without the sign bit)."""

    exponent: int
    mantissa: int
    bias: int
    largest: float
    inf_code: int | None   # E5M2 only
    nan_code: int | None   # None: no NaN (float4)
    unsigned_zero: bool    # FNUZ: no -0, NaN is the sign bit alone

    @property
    def sign_shift(self) -> int:
        return self.exponent + self.mantissa

    @property
    def largest_code(self) -> int:
        exponent = math.floor(math.log2(self.largest))
        fraction = self.largest / 2.0 ** exponent - 1
        return ((exponent + self.bias) << self.mantissa) | round(fraction * 2 ** self.mantissa)


FORMATS = {
    "float8_e4m3fn": Minifloat(4, 3, 7, 448.0, None, 0x7F, False),
    "float8_e4m3fnuz": Minifloat(4, 3, 8, 240.0, None, 0x80, True),
    "float8_e5m2": Minifloat(5, 2, 15, 57344.0, 0x7C, 0x7E, False),
    "float8_e5m2fnuz": Minifloat(5, 2, 16, 57344.0, None, 0x80, True),
    "float4_e2m1fn": Minifloat(2, 1, 1, 6.0, None, None, False),
}
_INT_BITS = {"int4": (4, True), "uint4": (4, False), "int2": (2, True), "uint2": (2, False)}


def _name(elem: int) -> str:
    return onnx.helper.tensor_dtype_to_np_dtype(int(elem)).name


def encode_minifloat_func(size: int, dtype: str, fmt: Minifloat, saturate: bool):
    """The kernel: ``size`` values of ``dtype`` -> the format's bit patterns (uint8), rounded to
    nearest even on the value's exact binary expansion (float64 holds every input exactly)."""
    m, bias = fmt.mantissa, fmt.bias
    emin, emax = 1 - fmt.bias, math.floor(math.log2(fmt.largest))
    limit = float(1 << (m + 2))  # (NaN and infinity round to this: an overflow)
    largest = fmt.largest
    if saturate or fmt.nan_code is None:
        overflow_code = fmt.largest_code
    else:
        overflow_code = fmt.inf_code if fmt.inf_code is not None else fmt.nan_code
    nan_code = fmt.nan_code if fmt.nan_code is not None else 0
    nan_sign_flip = int(fmt.nan_code is None)  # float4: NaN -> a zero, as ml_dtypes gives
    unsigned_zero = int(fmt.unsigned_zero)
    sign_shift = fmt.sign_shift

    @T.prim_func(private=True, s_tir=True)
    def encode(a: T.handle, b: T.handle):
        T.func_attr({"tir.noalias": True})
        A = T.match_buffer(a, (size,), dtype)
        B = T.match_buffer(b, (size,), "uint8")
        for i in range(size):
            with T.sblock("encode"):
                vi = T.axis.spatial(size, i)
                T.reads(A[vi])
                T.writes(B[vi])
                v: T.float64 = T.Cast("float64", A[vi])
                bits: T.uint64 = T.reinterpret("uint64", v)
                sign: T.int32 = T.Cast("int32", T.shift_right(bits, T.uint64(63)))
                biased: T.int32 = T.Cast("int32", T.bitwise_and(T.shift_right(bits, T.uint64(52)),
                                                                T.uint64(0x7FF)))
                e: T.int32 = T.min(T.max(biased - 1023, emin), emax + 1)
                step: T.float64 = T.reinterpret(
                    "float64", T.shift_left(T.Cast("uint64", e - m + 1023), T.uint64(52)))
                q0: T.float64 = T.nearbyint(T.fabs(v) / step)
                q: T.float64 = T.Select(q0 < T.float64(limit), q0, T.float64(limit))
                qi: T.int32 = T.Cast("int32", q)
                carry: T.bool = qi >= (1 << (m + 1))
                qn: T.int32 = T.Select(carry, T.shift_right(qi, 1), qi)
                en: T.int32 = T.Select(carry, e + 1, e)
                finite: T.int32 = T.Select(
                    qn >= (1 << m),
                    T.bitwise_or(T.shift_left(en + bias, m), qn - (1 << m)), qn)
                nan: T.bool = T.isnan(v)
                magnitude: T.int32 = T.Select(
                    nan, nan_code, T.Select(q * step > T.float64(largest), overflow_code,
                                            finite))
                s: T.int32 = T.Select(nan, T.bitwise_xor(sign, nan_sign_flip), sign)
                signed: T.int32 = T.bitwise_or(magnitude, T.shift_left(s, sign_shift))
                B[vi] = T.Cast("uint8", T.Select(
                    (unsigned_zero == 1) & ((magnitude == 0) | (magnitude == nan_code)),
                    magnitude, signed))

    return encode


def encode_minifloat(bb: relax.BlockBuilder, x, fmt: Minifloat, saturate: bool):
    shape = static_shape(x)
    size = int(np.prod(shape)) if shape else 1
    dtype = str(x.ty.dtype)
    func = encode_minifloat_func(size, dtype, fmt, saturate)
    gvar = bb.add_func(func, "encode_minifloat")
    flat = bb.normalize(op.reshape(x, [size]))
    codes = bb.emit(relax.call_tir(gvar, [flat], relax.TensorType([size], "uint8")))
    return op.reshape(codes, shape)


def encode_small_int(x: te.Tensor, bits: int, signed: bool) -> te.Tensor:
    """float or integer -> a 2/4-bit integer held in int8/uint8."""
    out = "int8" if signed else "uint8"
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    is_float = "float" in str(x.dtype)

    def value(*index):
        v = x(*index)
        if is_float:
            t = tirx.trunc(v.astype("float64"))
            ok = (t >= float(lo)) & (t <= float(hi))  # (false for NaN)
            return tirx.Select(ok, t, tirx.const(0.0, "float64")).astype(out)
        low = v.astype("int64") & ((1 << bits) - 1)
        if signed:
            low = (low ^ (1 << (bits - 1))) - (1 << (bits - 1))
        return low.astype(out)

    return te.compute(x.shape, value, name="encode_small_int")


def _encode(bb: relax.BlockBuilder, x, target: str, saturate: bool):
    if target in FORMATS:
        return encode_minifloat(bb, x, FORMATS[target], saturate)
    bits, signed = _INT_BITS[target]
    return bb.emit_te(lambda t: encode_small_int(t, bits, signed), x)


def decode_table(source: str) -> np.ndarray:
    """Every bit pattern of ``source`` as its float32 value (exact)."""
    count = 16 if source == "float4_e2m1fn" else 256
    return np.arange(count, dtype=np.uint8).view(numpy_dtype(source)).astype(np.float32)


def _decode(x, source: str, dtype: str = "float32"):
    table = relax.const(decode_table(source), "float32")
    values = op.take(table, op.astype(x, "int32"), axis=0)
    return values if dtype == "float32" else op.astype(values, dtype)


def convert_narrow_cast(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    x = inputs[0]
    if str(x.ty.dtype) == "bool":
        x = op.astype(x, "int8")
    return _encode(bb, x, _name(attrs["to"]), bool(attrs.get("saturate", 1)))


def convert_narrow_decode(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    return _decode(inputs[0], _name(attrs["from"]), _name(attrs["to"]))


def convert_narrow_quantize(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    """ONNX's QuantizeLinear to a narrow type: ``x / scale``, in the inputs' type, cast with
    saturation to float8 (the zero point unused, as ONNX's reference) or float4 (plus the zero
    point), or ``clip(round_half_even(x / scale) + zero)`` for 2/4-bit integers."""
    x, scale, zero = inputs[0], inputs[1], optional_input(inputs, 2)
    target = _name(attrs["to"])
    shape = static_shape(x)
    axis, block = int(attrs.get("axis", 1)) % max(len(shape), 1), int(attrs.get("block_size", 0))
    scale = broadcast_parameter(bb, scale, shape, axis, block)
    dtype = str(x.ty.dtype)
    value = op.divide(x, op.astype(scale, dtype))
    if target in _INT_BITS:
        bits, signed = _INT_BITS[target]
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        value = round_even(op.astype(value, "float32"))
        if zero is not None:
            value = op.add(value, op.astype(broadcast_parameter(bb, zero, shape, axis, block),
                                            "float32"))
        value = op.clip(value, relax.prim_value(float(lo)), relax.prim_value(float(hi)))
        return op.astype(value, storage_dtype(target))
    if target == "float4_e2m1fn" and zero is not None:
        value = op.add(value, _decode(broadcast_parameter(bb, zero, shape, axis, block),
                                      target, dtype))
    return _encode(bb, bb.normalize(value), target,
                   bool(attrs.get("saturate", 1)) or target == "float4_e2m1fn")


def convert_narrow_dequantize(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    """ONNX's DequantizeLinear from float8/float4: ``value(x) * scale`` in float32, in the
    scale's type (or ``output_dtype``); float8 and float4 zero points are zero by definition
    and not read."""
    x, scale = inputs[0], inputs[1]
    shape = static_shape(x)
    axis, block = int(attrs.get("axis", 1)) % max(len(shape), 1), int(attrs.get("block_size", 0))
    dtype = _name(attrs["to"]) if attrs.get("to") else str(scale.ty.dtype)
    if dtype not in ("float32", "float16", "bfloat16", "float64"):
        raise refuse("DequantizeLinear", attrs, f"dequantizes to {dtype}",
                     "edgec dequantizes to float types")
    scale = op.astype(broadcast_parameter(bb, scale, shape, axis, block), "float32")
    value = op.multiply(_decode(x, _name(attrs["from"])), scale)
    return value if dtype == "float32" else op.astype(value, dtype)
