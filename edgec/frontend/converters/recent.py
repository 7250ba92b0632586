"""Operators of ONNX opsets after 23, written to their newest definitions: a model at opset
24..28 that uses them is declared at 23 (``frontend/opset.py``, which ONNX's version converter
cannot do for them) and these converters read the nodes as their newest version specifies.

- ``Swish`` (24): ``x * sigmoid(alpha * x)``; ``SwiGLU`` (28): ``swish(a) * b``.
- ``CumProd`` (26): the cumulative product along a constant axis (``exclusive``: shifted by one
  with a leading 1; ``reverse``: from the end).
- ``TensorScatter`` (24): a KV cache update: ``update`` written into ``past_cache`` along
  ``axis`` from ``write_indices[batch]`` (``circular``: wrapping around).
- ``BitShift`` (28 semantics, all versions): signed right shifts are arithmetic; a shift by a
  negative amount or by at least the type's width gives the sign fill (-1 for a negative value
  shifted right) or 0, where a plain machine shift is undefined.
- ``BitCast`` (26): the same bits read as another type of the same width.
"""

from __future__ import annotations

import numpy as np
import onnx
from tvm import relax, te, tirx
from tvm.relax import op

from edgec.frontend.converters.common import refuse, text
from edgec.passes.bindings import constant_array, static_shape


def _dtype(expr) -> str:
    return str(expr.ty.dtype)


def _swish(x, alpha: float):
    return op.multiply(x, op.sigmoid(op.multiply(x, relax.const(alpha, _dtype(x)))))


def convert_swish(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    return _swish(inputs[0], float(attrs.get("alpha", 1.0)))


def convert_swiglu(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    return op.multiply(_swish(inputs[0], float(attrs.get("alpha", 1.0))), inputs[1])


def convert_cumprod(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    x = inputs[0]
    axis = constant_array(inputs[1])
    if axis is None:
        raise refuse("CumProd", attrs, "takes its axis from a value that is not a constant",
                     "make it a constant, or freeze the input that gives it")
    shape, dtype = static_shape(x), _dtype(x)
    axis = int(axis.reshape(())) % len(shape)
    if int(attrs.get("reverse", 0)):
        x = op.flip(x, axis)
    if int(attrs.get("exclusive", 0)):
        ones_shape = list(shape)
        ones_shape[axis] = 1
        head = relax.const(np.ones(ones_shape, dtype), dtype)
        body = op.strided_slice(x, [axis], [0], [shape[axis] - 1])
        x = op.concat([head, body], axis=axis) if shape[axis] > 1 else op.ones_like(x)
    result = op.cumprod(x, axis=axis)
    if int(attrs.get("reverse", 0)):
        result = op.flip(result, axis)
    return result


def convert_tensor_scatter(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    cache, update = inputs[0], inputs[1]
    indices = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    shape, update_shape = static_shape(cache), static_shape(update)
    axis = int(attrs.get("axis", -2)) % len(shape)
    if axis == 0:
        raise refuse("TensorScatter", attrs, "writes along the batch axis",
                     "ONNX requires the sequence axis to follow the batch axis")
    mode = text(attrs.get("mode", "linear"))
    length, steps = shape[axis], update_shape[axis]
    # For every cache position: which update step lands there, or -1 (kept).
    position_shape = [1] * len(shape)
    position_shape[axis] = length
    positions = relax.const(np.arange(length, dtype=np.int64).reshape(position_shape), "int64")
    start_shape = [1] * len(shape)
    start_shape[0] = shape[0]
    start = op.reshape(op.astype(indices, "int64"), start_shape) if indices is not None else \
        relax.const(np.zeros(start_shape, np.int64), "int64")
    step = op.subtract(positions, start)
    if mode == "circular":
        step = op.floor_mod(op.add(step, relax.const(length, "int64")),
                            relax.const(length, "int64"))
    written = op.logical_and(op.greater_equal(step, relax.const(0, "int64")),
                             op.less(step, relax.const(steps, "int64")))
    source = op.clip(step, relax.prim_value(0), relax.prim_value(steps - 1))
    gathered = op.gather_elements(update, op.broadcast_to(source, [*shape[:axis], length,
                                                                  *shape[axis + 1:]])
                                  if steps else source, axis=axis)
    return op.where(written, gathered, cache)


def convert_bitshift(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    x, amount = inputs
    dtype = _dtype(x)
    bits = np.iinfo(np.dtype(dtype)).bits
    right = text(attrs.get("direction", "")) == "RIGHT"
    valid = op.logical_and(op.greater_equal(amount, relax.const(0, _dtype(amount))),
                           op.less(amount, relax.const(bits, _dtype(amount))))
    safe = op.where(valid, amount, relax.const(0, _dtype(amount)))
    if _dtype(amount) != dtype:
        safe = op.astype(safe, dtype)
    if right:
        shifted = op.right_shift(x, safe)
        fill = op.where(op.less(x, relax.const(0, dtype)), relax.const(-1, dtype),
                        relax.const(0, dtype)) if dtype.startswith("int") else \
            relax.const(0, dtype)
    else:
        shifted = op.left_shift(x, safe)
        fill = relax.const(0, dtype)
    return op.where(valid, shifted, fill)


def convert_bitcast(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    x = inputs[0]
    source = _dtype(x)
    target = onnx.helper.tensor_dtype_to_np_dtype(int(attrs["to"])).name
    width = {"bool": 8}.get(source, np.dtype(source).itemsize * 8 if source in np.sctypeDict
                           else 0)
    if target not in np.sctypeDict or np.dtype(target).itemsize * 8 != width:
        raise refuse("BitCast", attrs, f"reads {source} bits as {target}",
                     "edgec reinterprets between numeric types of the same width")
    if source == target:
        return x
    if source == "bool" or (np.dtype(source).kind in "iu" and np.dtype(target).kind in "iu"):
        return op.astype(x, target)  # (integers of one width: the same bits, wrapped)
    return bb.emit_te(lambda t: te.compute(t.shape, lambda *i: tirx.reinterpret(target, t(*i)),
                                           name="bitcast"), x)
