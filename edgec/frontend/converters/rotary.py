"""ONNX ``RotaryEmbedding`` (opset 23): rotate the first ``rotary_embedding_dim`` features of
every head by position-dependent angles given as cos/sin caches (indexed by ``position_ids`` when
given), pairs taken as halves or ``interleaved``. 3-D inputs ``[B, S, heads * head_size]`` need
``num_heads``; 4-D ones are ``[B, heads, S, head_size]``."""

from __future__ import annotations

from tvm import relax
from tvm.relax import op

from edgec.frontend.converters.common import refuse
from edgec.passes.bindings import static_shape


def convert_rotary_embedding(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    name = "RotaryEmbedding"
    x, cos, sin = inputs[0], inputs[1], inputs[2]
    positions = inputs[3] if len(inputs) > 3 and inputs[3] is not None else None
    shape = static_shape(x)
    if shape is None or len(shape) not in (3, 4):
        raise refuse(name, attrs, "has an input that is not 3-D or 4-D with a static shape",
                     "give the model static input shapes")
    if len(shape) == 4:
        x = op.permute_dims(x, [0, 2, 1, 3])  # [B, S, heads, head_size]
        batch, seq, heads, head_size = shape[0], shape[2], shape[1], shape[3]
    else:
        heads = int(attrs.get("num_heads", 0))
        if heads <= 0:
            raise refuse(name, attrs, "has a 3-D input without num_heads",
                         "set num_heads (the ONNX specification requires it for 3-D input)")
        batch, seq, hidden = shape
        head_size = hidden // heads
        x = op.reshape(x, [batch, seq, heads, head_size])
    x = bb.normalize(x)
    dim = int(attrs.get("rotary_embedding_dim", 0)) or head_size
    half = dim // 2
    if positions is not None:
        cos, sin = op.take(cos, positions, axis=0), op.take(sin, positions, axis=0)
    cos, sin = op.expand_dims(cos, 2), op.expand_dims(sin, 2)  # [B, S, 1, dim / 2]
    axis = [3]
    if int(attrs.get("interleaved", 0)):
        x1 = op.strided_slice(x, axis, [0], [dim], [2])
        x2 = op.strided_slice(x, axis, [1], [dim], [2])
    else:
        x1 = op.strided_slice(x, axis, [0], [half])
        x2 = op.strided_slice(x, axis, [half], [dim])
    real = op.subtract(op.multiply(cos, x1), op.multiply(sin, x2))
    imag = op.add(op.multiply(sin, x1), op.multiply(cos, x2))
    if int(attrs.get("interleaved", 0)):
        rotated = op.reshape(op.stack([real, imag], axis=4), [batch, seq, heads, dim])
    else:
        rotated = op.concat([real, imag], axis=3)
    if dim < head_size:
        rotated = op.concat([rotated, op.strided_slice(x, axis, [dim], [head_size])], axis=3)
    if len(shape) == 4:
        return op.permute_dims(rotated, [0, 2, 1, 3])
    return op.reshape(rotated, shape)
