"""Normalizations whose TVM conversions drop outputs or modes.

- ``BatchNormalization`` with ``training_mode=1``: TVM computes inference mode (running
  statistics). Here the batch statistics are used, as ONNX specifies::

      mean = ReduceMean(X, all axes but 1);  var = ReduceMean((X - mean)^2, same axes)
      Y = (X - mean) / sqrt(var + epsilon) * scale + B
      running_mean = input_mean * momentum + mean * (1 - momentum)   (and running_var alike)

  computed in float32 for float16 data.
- ``LayerNormalization``'s optional ``Mean`` and ``InvStdDev`` outputs: TVM returned scalar
  zeros. Here they are computed (in ``stash_type``, float32 by default) with the normalized
  axes kept as size 1 (``[N, C, 1, 1]`` for ``axis=2`` on a 4-d input). ``Y`` stays TVM's
  ``layer_norm``.
"""

from __future__ import annotations

from tvm import relax

from edgec.frontend.converters.common import refuse

op = relax.op


def _f32(bb, expr):
    return expr if str(expr.ty.dtype) == "float32" else bb.normalize(op.astype(expr, "float32"))


def convert_batch_norm(bb: relax.BlockBuilder, inputs, attr: dict, opset: int):
    if not int(attr.get("training_mode", 0)):
        return None
    x, scale, bias, mean_in, var_in = inputs[:5]
    rank = x.ty.ndim
    if rank < 2:
        raise refuse("BatchNormalization", attr, "has an input of rank < 2", "check the model")
    dtype = str(x.ty.dtype)
    eps = float(attr.get("epsilon", 1e-5))
    momentum = float(attr.get("momentum", 0.9))
    axes = [a for a in range(rank) if a != 1]
    per_channel = [1, -1] + [1] * (rank - 2)
    x32 = _f32(bb, x)
    mean = op.mean(x32, axes, keepdims=True)
    centered = op.subtract(x32, mean)
    var = op.mean(op.multiply(centered, centered), axes, keepdims=True)
    normalized = op.divide(centered, op.sqrt(op.add(var, relax.const(eps, "float32"))))
    y = op.add(op.multiply(normalized, op.reshape(_f32(bb, scale), per_channel)),
               op.reshape(_f32(bb, bias), per_channel))
    y = y if dtype == "float32" else op.astype(y, dtype)
    outputs = [y]
    for running, current in ((mean_in, mean), (var_in, var)):
        stat_dtype = str(running.ty.dtype)
        current = op.reshape(bb.normalize(current), [-1])
        updated = op.add(op.multiply(_f32(bb, running), relax.const(momentum, "float32")),
                         op.multiply(current, relax.const(1.0 - momentum, "float32")))
        outputs.append(updated if stat_dtype == "float32" else op.astype(updated, stat_dtype))
    return relax.Tuple([bb.normalize(o) for o in outputs])


_STASH = {1: "float32", 10: "float16", 11: "float64", 16: "bfloat16"}


def convert_layer_norm(bb: relax.BlockBuilder, inputs, attr: dict, opset: int):
    if int((attr.get("tvm_custom") or {}).get("num_outputs", 1)) < 2:
        return None
    x = inputs[0]
    rank = x.ty.ndim
    axis = int(attr.get("axis", -1)) % rank
    axes = list(range(axis, rank))
    eps = float(attr.get("epsilon", 1e-5))
    stash = _STASH.get(int(attr.get("stash_type", 1)))
    if stash is None:
        raise refuse("LayerNormalization", attr, f"has stash_type {attr.get('stash_type')}",
                     "use stash_type 1 (float32)")
    xs = x if str(x.ty.dtype) == stash else op.astype(x, stash)
    mean = op.mean(xs, axes, keepdims=True)
    centered = op.subtract(xs, mean)
    var = op.mean(op.multiply(centered, centered), axes, keepdims=True)
    inv_std = op.rsqrt(op.add(var, relax.const(eps, stash)))
    scale, bias = inputs[1], inputs[2] if len(inputs) > 2 else None
    if bias is None:
        bias = op.zeros_like(scale)
    y = op.nn.layer_norm(x, scale, bias, axes, eps)
    return relax.Tuple([bb.normalize(o) for o in (y, mean, inv_std)])
