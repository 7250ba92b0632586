"""Operators TVM's importer converts only for some inputs, or not to code TVM can generate:

- ``Pow`` with a base and exponent of different types (ONNX allows it; the result has the
  base's type), or integer operands (TVM's power is float only): integers in float64.
- ``Sinh``, ``Cosh``: TVM has no code generation for the intrinsics; ``(e^x -+ e^-x) / 2``.
- ``RMSNormalization``: TVM's legalization fails for ``axis`` 0; ``x / sqrt(mean(x^2) + eps)
  * scale`` over the axes from ``axis`` on, in float32 for float16 inputs (``stash_type``).
- ``OneHot`` with a ``values`` input that is not a constant (TVM: constants only): a
  comparison with the depth's range, negative indices wrapped, out-of-range ones all off.
- ``EyeLike``: TVM refuses a ``dtype`` other than the input's; the identity is a constant.
- ``Pad`` (constant mode) whose ``constant_value`` is a graph input: pad with zeros, then add
  the value where the padding went.
- ``Mod`` on floats with ``fmod=0``: right for infinite divisors (see ``convert_mod``).
- ``ReduceMax`` / ``ReduceMin`` of booleans (TVM: no identity for bool).
"""

from __future__ import annotations

import numpy as np
import onnx
from tvm import relax
from tvm.relax import op

from edgec.frontend.converters.common import refuse, text
from edgec.passes.bindings import constant_array, static_shape


def _dtype(expr) -> str:
    return str(expr.ty.dtype)


def convert_pow(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    base, exponent = inputs
    dtype = _dtype(base)
    if dtype.startswith("float") and _dtype(exponent) == dtype:
        return None  # TVM's converter
    if dtype.startswith("float"):
        return op.power(base, op.astype(exponent, dtype))
    wide = op.power(op.astype(base, "float64"), op.astype(exponent, "float64"))
    return op.astype(op.round(wide), dtype)


def _exp_pair(x):
    return op.exp(x), op.exp(op.negative(x))


def convert_sinh(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    up, down = _exp_pair(inputs[0])
    return op.multiply(op.subtract(up, down), relax.const(0.5, _dtype(inputs[0])))


def convert_cosh(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    up, down = _exp_pair(inputs[0])
    return op.multiply(op.add(up, down), relax.const(0.5, _dtype(inputs[0])))


def convert_rms_normalization(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    x, scale = inputs[0], inputs[1]
    rank = x.ty.ndim
    axis = int(attrs.get("axis", -1)) % rank
    dtype = _dtype(x)
    stash = str(onnx.helper.tensor_dtype_to_np_dtype(int(attrs.get("stash_type", 1))))
    work = x if stash == dtype else op.astype(x, stash)
    mean = op.mean(op.multiply(work, work), axis=list(range(axis, rank)), keepdims=True)
    eps = relax.const(float(attrs.get("epsilon", 1e-5)), stash)
    normed = op.divide(work, op.sqrt(op.add(mean, eps)))
    if stash != dtype:
        normed = op.astype(normed, dtype)
    return op.multiply(normed, scale)


def convert_one_hot(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    indices, depth, values = inputs
    if constant_array(values) is not None:
        return None  # TVM's converter
    depth_value = constant_array(depth)
    if depth_value is None:
        raise refuse("OneHot", attrs, "takes its depth from a value that is not a constant",
                     "make it a constant, or freeze the input that gives it "
                     "(--freeze-input NAME=VALUE)")
    n = int(depth_value.reshape(-1)[0])
    rank = indices.ty.ndim
    axis = int(attrs.get("axis", -1))
    axis = axis + rank + 1 if axis < 0 else axis
    index = op.astype(indices, "int64")
    index = op.where(op.less(index, relax.const(0, "int64")),
                     op.add(index, relax.const(n, "int64")), index)
    index = op.expand_dims(index, axis)
    shape = [1] * (rank + 1)
    shape[axis] = n
    targets = relax.const(np.arange(n, dtype=np.int64).reshape(shape), "int64")
    off = op.strided_slice(values, [0], [0], [1])
    on = op.strided_slice(values, [0], [1], [2])
    return op.where(op.equal(index, targets), op.reshape(on, []), op.reshape(off, []))


def convert_eye_like(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    shape = static_shape(inputs[0])
    if shape is None or len(shape) != 2:
        raise refuse("EyeLike", attrs, "has an input that is not 2-D with a static shape",
                     "give the model static input shapes")
    dtype = attrs.get("dtype")
    dtype = _dtype(inputs[0]) if dtype is None else \
        str(onnx.helper.tensor_dtype_to_np_dtype(int(dtype)))
    eye = np.eye(shape[0], shape[1], k=int(attrs.get("k", 0)), dtype=dtype)
    return relax.const(eye, dtype)


def convert_pad(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    if opset < 11 or len(inputs) < 3 or inputs[2] is None:
        return None
    mode = text(attrs.get("mode", "constant"))
    value = inputs[2]
    if mode != "constant" or constant_array(value) is not None:
        return None  # TVM's converter
    x = inputs[0]
    rank = x.ty.ndim
    pads = constant_array(inputs[1])
    axes = constant_array(inputs[3]) if len(inputs) > 3 and inputs[3] is not None else None
    if pads is None or (len(inputs) > 3 and inputs[3] is not None and axes is None):
        raise refuse("Pad", attrs, "takes its pads or axes from a value that is not a constant",
                     "make them constants, or freeze the inputs that give them "
                     "(--freeze-input NAME=VALUE)")
    axes = [int(a) % rank for a in (axes if axes is not None else range(rank))]
    pads = [int(p) for p in pads.reshape(-1)]
    full = [[0, 0] for _ in range(rank)]
    for i, axis in enumerate(axes):
        full[axis] = [pads[i], pads[i + len(axes)]]
    if any(p < 0 for pair in full for p in pair):
        return None  # cropping: TVM's converter (it refuses a non-constant value clearly)
    flat = [v for pair in full for v in pair]
    dtype = _dtype(x)
    padded = op.nn.pad(x, flat, pad_value=0.0)
    border = op.subtract(relax.const(1, dtype),
                         op.nn.pad(op.ones_like(x), flat, pad_value=0.0))
    return op.add(padded, op.multiply(border, op.reshape(value, [])))


def convert_mod(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    """Float ``Mod`` with ``fmod=0`` (Python's %, the result takes the divisor's sign): TVM's
    ``x - floor(x / y) * y`` is NaN for an infinite divisor, where Python gives ``x`` when it
    is zero or has the divisor's sign and the divisor otherwise (``-3 % inf`` is ``inf``)."""
    x, y = inputs
    if int(attrs.get("fmod", 0)) or not _dtype(x).startswith("float"):
        return None  # TVM's converter
    floor_mod = op.subtract(x, op.multiply(op.floor(op.divide(x, y)), y))
    zero = relax.const(0.0, _dtype(x))
    keeps_x = op.logical_or(op.equal(x, zero), op.greater(op.multiply(x, y), zero))
    at_infinity = op.where(keeps_x, x, y)
    finite_x = op.logical_not(op.logical_or(op.isinf(x), op.isnan(x)))
    return op.where(op.logical_and(op.isinf(y), finite_x), at_infinity, floor_mod)


def _reduce_bool(kind: str):
    """``ReduceMax`` / ``ReduceMin`` of booleans (any / all): TVM's legalization has no
    identity for bool; reduced as uint8."""
    def convert(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
        x = inputs[0]
        if _dtype(x) != "bool":
            return None  # TVM's converter (edgec's legalization for the float ones)
        rank = x.ty.ndim
        axes = attrs.get("axes")
        if opset >= 18 and len(inputs) > 1 and inputs[1] is not None:
            given = constant_array(inputs[1])
            if given is None:
                raise refuse(kind, attrs, "takes its axes from a value that is not a constant",
                             "freeze the input that gives them (--freeze-input NAME=VALUE)")
            axes = [int(a) for a in given.reshape(-1)]
        if not axes:
            if int(attrs.get("noop_with_empty_axes", 0)):
                return x
            axes = list(range(rank))
        keep = bool(int(attrs.get("keepdims", 1)))
        shape = static_shape(x)
        axes = [int(a) % rank for a in axes]
        if shape is not None and any(shape[a] == 0 for a in axes):  # empty: the identity
            out = [1 if a in axes else d for a, d in enumerate(shape)] if keep else \
                [d for a, d in enumerate(shape) if a not in axes]
            return relax.const(np.full(out, kind == "ReduceMin", dtype=bool), "bool")
        reduce = op.max if kind == "ReduceMax" else op.min
        return op.astype(reduce(op.astype(x, "uint8"), axis=axes, keepdims=keep), "bool")

    return convert


convert_reduce_max = _reduce_bool("ReduceMax")
convert_reduce_min = _reduce_bool("ReduceMin")
