"""ONNX Runtime's com.microsoft operators that transformer exports and ORT's graph optimizer
write, where TVM's importer has none or covers only part of the operator (its
SkipLayerNormalization asserts on a missing beta). Semantics as ONNX Runtime's contrib operator
documentation gives them; each is tested against ONNX Runtime.

- ``QuickGelu``: ``x * sigmoid(alpha * x)`` (alpha 1.702 by default).
- ``SkipLayerNormalization`` / ``SkipSimplifiedLayerNormalization``: ``s = input + skip
  [+ bias]``, then LayerNorm (gamma, optional beta) or RMSNorm (gamma) over the last axis;
  outputs ``(y, mean, inv_std_var, s)``.
- ``MultiHeadAttention``: separate 3-D Q, K, V ``[B, S, heads * head_size]`` with an optional
  packed bias ``[3 * hidden]``, ``key_padding_mask`` ``[B, kv_len]`` (0 masks a key: it gets
  ``mask_filter_value``, -10000 by default, added), ``unidirectional`` (causal), ``scale``.
  Packed QKV, a KV cache and attention_bias are refused with a message.
"""

from __future__ import annotations

import math

import numpy as np
from tvm import relax
from tvm.relax import op

from edgec.frontend.converters.common import optional_input, refuse
from edgec.passes.bindings import static_shape


def _const(value, dtype: str) -> relax.Expr:
    return relax.const(np.asarray(value, dtype=dtype), dtype)


def convert_quick_gelu(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    x = inputs[0]
    alpha = _const(float(attrs.get("alpha", 1.702)), str(x.ty.dtype))
    return op.multiply(x, op.sigmoid(op.multiply(x, alpha)))


def convert_skip_layer_norm(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    x, skip, gamma = inputs[0], inputs[1], inputs[2]
    beta, bias = optional_input(inputs, 3), optional_input(inputs, 4)
    return _skip_norm(bb, x, skip, gamma, beta, bias, attrs, rms=False)


def convert_skip_simplified_layer_norm(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    x, skip, gamma = inputs[0], inputs[1], inputs[2]
    bias = optional_input(inputs, 3)
    return _skip_norm(bb, x, skip, gamma, None, bias, attrs, rms=True)


def _skip_norm(bb, x, skip, gamma, beta, bias, attrs, rms: bool):
    dtype = str(x.ty.dtype)
    eps = _const(float(attrs.get("epsilon", 1e-12)), dtype)
    total = op.add(x, skip)
    if bias is not None:
        total = op.add(total, bias)
    total = bb.normalize(total)
    if rms:
        mean = _const(0.0, dtype)
        centered = total
    else:
        mean = bb.normalize(op.mean(total, axis=[-1], keepdims=True))
        centered = op.subtract(total, mean)
    variance = op.mean(op.multiply(centered, centered), axis=[-1], keepdims=True)
    inv_std = bb.normalize(op.rsqrt(op.add(variance, eps)))
    y = op.multiply(op.multiply(centered, inv_std), gamma)
    if beta is not None:
        y = op.add(y, beta)
    if rms:
        mean = op.zeros_like(inv_std)
    return relax.Tuple([bb.normalize(y), bb.normalize(mean), inv_std, total])


def convert_multi_head_attention(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    name = "MultiHeadAttention"
    q, k, v = inputs[0], optional_input(inputs, 1), optional_input(inputs, 2)
    bias, padding = optional_input(inputs, 3), optional_input(inputs, 4)
    if k is None or v is None or any(optional_input(inputs, i) is not None for i in range(5, 10)):
        raise refuse(name, attrs, "uses packed QKV, attention_bias or a KV cache",
                     "edgec converts MultiHeadAttention with separate 3-D query, key and value, "
                     "an optional bias and key_padding_mask")
    shapes = [static_shape(t) for t in (q, k, v)]
    if any(s is None or len(s) != 3 for s in shapes):
        raise refuse(name, attrs, "has query/key/value that are not 3-D with static shapes",
                     "give [batch, sequence, hidden] inputs with static shapes")
    heads = int(attrs["num_heads"])
    dtype = str(q.ty.dtype)
    (batch, q_len, hidden), (_, kv_len, _), (_, _, v_hidden) = shapes
    if bias is not None:
        q = op.add(q, op.strided_slice(bias, [0], [0], [hidden]))
        k = op.add(k, op.strided_slice(bias, [0], [hidden], [2 * hidden]))
        v = op.add(v, op.strided_slice(bias, [0], [2 * hidden], [2 * hidden + v_hidden]))

    def heads_first(x, length, width):
        return op.permute_dims(op.reshape(x, [batch, length, heads, width // heads]),
                               [0, 2, 1, 3])

    head_size = hidden // heads
    scale = attrs.get("scale")
    scale = 1.0 / math.sqrt(head_size) if not scale else float(scale)
    scores = op.multiply(op.matmul(heads_first(q, q_len, hidden),
                                   op.permute_dims(heads_first(k, kv_len, hidden),
                                                   [0, 1, 3, 2])),
                         _const(scale, dtype))
    filler = float(attrs.get("mask_filter_value", -10000.0))
    if padding is not None:
        shape = static_shape(padding)
        if shape != [batch, kv_len]:
            raise refuse(name, attrs, f"has a key_padding_mask of shape {shape}",
                         f"edgec takes the 2-D [batch, kv_len] = [{batch}, {kv_len}] form")
        keep = op.astype(op.reshape(padding, [batch, 1, 1, kv_len]), dtype)
        scores = op.add(scores, op.multiply(op.subtract(_const(1.0, dtype), keep),
                                            _const(filler, dtype)))
    if int(attrs.get("unidirectional", 0)):
        rows = np.arange(q_len).reshape(-1, 1)
        cols = np.arange(kv_len).reshape(1, -1)
        scores = op.add(scores, _const(np.where(cols <= rows + kv_len - q_len, 0.0, filler),
                                       dtype))
    probs = op.nn.softmax(scores, axis=-1)
    y = op.matmul(probs, heads_first(v, kv_len, v_hidden))
    return op.reshape(op.permute_dims(y, [0, 2, 1, 3]), [batch, q_len, v_hidden])
