"""ONNX ``Attention`` (opsets 23-25): scaled dot-product attention with masks, a KV cache,
grouped-query heads, an external cache's valid lengths (24) and sliding windows (25).

TVM 0.27's importer has one converter per operator name, and its ``Attention`` is ONNX Runtime's
``com.microsoft`` operator (packed QKV weights, ``num_heads``): an opset-23 node fails there on the
missing ``num_heads``. Nodes with ``num_heads`` still go to TVM's converter.

With static shapes everything that decides a shape, and the causal mask, is a compile-time
constant. Following the specification (and the reference implementation's order):

- 3-D inputs ``[B, S, heads * head_size]`` are split into heads (``q_num_heads``,
  ``kv_num_heads``) and back at the end;
- Q and K are each multiplied by ``sqrt(scale)`` (``scale`` defaults to ``1/sqrt(head_size)``);
- ``past_key``/``past_value`` are concatenated in front of K/V (``present_*`` outputs);
- the bias: a causal mask aligned bottom-right (query ``i`` sees key ``j <= i + offset``, the
  offset being the past length, or with ``nonpad_kv_seqlen`` and no past, that length minus the
  query length, per batch entry), plus ``attn_mask`` (boolean: False masks; float: added), padded
  with masked columns up to the total key length; keys at or past ``nonpad_kv_seqlen[b]``
  masked; with ``left_window_size`` / ``right_window_size`` (>= 0) a query at ``i + offset``
  sees only the keys within that many positions on each side;
- grouped-query heads: each K/V head repeated for its ``q_num_heads / kv_num_heads`` queries;
- ``softcap`` (``c * tanh(x / c)``) before the bias; softmax (in ``softmax_precision``); a row
  whose bias masks every key gives zeros, not NaN;
- ``qk_matmul_output_mode`` 0/1: the scores (softcapped), 2: with the bias, 3: the softmax.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from tvm import relax
from tvm.relax import op

from edgec.frontend.converters.common import optional_input, refuse
from edgec.passes.bindings import static_shape


def _split_heads(bb, x, heads: int):
    """[B, S, heads * d] -> [B, heads, S, d]."""
    b, s, hidden = static_shape(x)
    x = bb.normalize(op.reshape(x, [b, s, heads, hidden // heads]))
    return bb.normalize(op.permute_dims(x, [0, 2, 1, 3]))


def _const(value, dtype: str) -> relax.Expr:
    return relax.const(np.asarray(value, dtype=dtype), dtype)


def convert_attention(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    if "num_heads" in attrs:  # com.microsoft Attention: TVM's converter, for what it covers
        if int(attrs.get("unidirectional", 0)) or any(
                optional_input(inputs, i) is not None for i in range(3, len(inputs))):
            raise refuse("Attention", attrs, "(com.microsoft) has a mask, a KV cache, an "
                         "attention bias or unidirectional=1",
                         "export attention unfused (MatMul/Softmax), as ONNX's Attention "
                         "(opset 23), or as com.microsoft MultiHeadAttention")
        return None
    name = "Attention"
    q, k, v = inputs[0], inputs[1], inputs[2]
    mask = optional_input(inputs, 3)
    past_k, past_v = optional_input(inputs, 4), optional_input(inputs, 5)
    nonpad = optional_input(inputs, 6)
    if nonpad is not None and past_k is not None:
        raise refuse(name, attrs, "has both nonpad_kv_seqlen and past_key/past_value",
                     "ONNX allows one kind of KV cache per node")
    if (past_k is None) != (past_v is None):
        raise refuse(name, attrs, "has only one of past_key and past_value",
                     "give both or neither")
    shapes = [static_shape(x) for x in (q, k, v)]
    if any(s is None for s in shapes):
        raise refuse(name, attrs, "has inputs of unknown shape", "give static input shapes")
    dtype = str(q.ty.dtype)
    rank = len(shapes[0])
    if rank == 3:
        q_heads, kv_heads = attrs.get("q_num_heads"), attrs.get("kv_num_heads")
        if q_heads is None or kv_heads is None:
            raise refuse(name, attrs, "has 3-D inputs without q_num_heads/kv_num_heads",
                         "set both attributes (the ONNX specification requires them)")
        q = _split_heads(bb, q, int(q_heads))
        k = _split_heads(bb, k, int(kv_heads))
        v = _split_heads(bb, v, int(kv_heads))
    elif rank != 4:
        raise refuse(name, attrs, f"has rank-{rank} inputs", "Q, K and V must be 3-D or 4-D")
    q_heads, q_len, head_size = static_shape(q)[1:]
    kv_heads = static_shape(k)[1]

    scale = attrs.get("scale")
    scale = 1.0 / math.sqrt(head_size) if scale is None else float(scale)
    root = _const(np.float32(math.sqrt(scale)), dtype)
    if past_k is not None:
        k = bb.normalize(op.concat([past_k, k], axis=2))
        v = bb.normalize(op.concat([past_v, v], axis=2))
    present_k, present_v = k, v
    kv_len = static_shape(k)[2]
    past_len = static_shape(past_k)[2] if past_k is not None else 0

    windows = (int(attrs.get("left_window_size", -1)), int(attrs.get("right_window_size", -1)))
    bias, maybe_fully_masked = _bias(bb, mask, bool(attrs.get("is_causal", 0)), q_len, kv_len,
                                     past_len, dtype, nonpad, windows, static_shape(q)[0])
    if q_heads != kv_heads and q_heads % kv_heads == 0:
        k = op.repeat(k, q_heads // kv_heads, axis=1)
        v = op.repeat(v, q_heads // kv_heads, axis=1)

    scores = op.matmul(op.multiply(q, root),
                       op.permute_dims(op.multiply(k, root), [0, 1, 3, 2]))
    softcap = float(attrs.get("softcap", 0.0) or 0.0)
    if softcap > 0:
        cap = _const(softcap, dtype)
        scores = op.multiply(op.tanh(op.divide(scores, cap)), cap)
    scores = bb.normalize(scores)
    biased = bb.normalize(op.add(scores, bias)) if bias is not None else scores

    precision = attrs.get("softmax_precision")
    soft_dtype = dtype
    if precision is not None:
        soft_dtype = str(onnx.helper.tensor_dtype_to_np_dtype(int(precision)))
    probs = op.nn.softmax(biased if soft_dtype == dtype else op.astype(biased, soft_dtype),
                          axis=-1)
    if maybe_fully_masked:
        masked_row = op.equal(op.max(bias, axis=-1, keepdims=True),
                              _const(-np.inf, dtype))
        probs = op.where(masked_row, _const(0.0, soft_dtype), probs)
    probs = bb.normalize(probs if soft_dtype == dtype else op.astype(probs, dtype))

    mode = int(attrs.get("qk_matmul_output_mode", 0))
    qk_out = {0: scores, 1: scores, 2: biased, 3: probs}.get(mode)
    if qk_out is None:
        raise refuse(name, attrs, f"has qk_matmul_output_mode={mode}", "ONNX defines 0..3")

    y = op.matmul(probs, v)
    if rank == 3:
        b, heads, s, d = static_shape(bb.normalize(y))
        y = op.reshape(op.permute_dims(y, [0, 2, 1, 3]), [b, s, heads * d])
    return relax.Tuple([bb.normalize(y), present_k, present_v, qk_out])


def _bias(bb, mask, causal: bool, q_len: int, kv_len: int, past_len: int, dtype: str,
          nonpad=None, windows=(-1, -1), batch: int = 1):
    """(the additive bias [.., q_len, kv_len] or None, whether a row may mask every key)."""
    bias = None
    if mask is not None:
        shape = static_shape(mask)
        if shape is None:
            raise refuse("Attention", {}, "has an attn_mask of unknown shape",
                         "give static input shapes")
        is_bool = str(mask.ty.dtype) == "bool"
        if shape[-1] < kv_len:  # missing key columns are masked
            fill_shape = [*shape[:-1], kv_len - shape[-1]]
            fill = relax.const(np.zeros(fill_shape, bool), "bool") if is_bool else \
                _const(np.full(fill_shape, -np.inf), str(mask.ty.dtype))
            mask = bb.normalize(op.concat([mask, fill], axis=-1))
        if is_bool:
            mask = op.where(mask, _const(0.0, dtype), _const(-np.inf, dtype))
        elif str(mask.ty.dtype) != dtype:
            mask = op.astype(mask, dtype)
        bias = bb.normalize(mask)
    left, right = windows
    if nonpad is None:
        allowed = _allowed(np, np.arange(q_len).reshape(-1, 1), np.arange(kv_len).reshape(1, -1),
                           past_len, causal, left, right)
        if allowed is not None:
            constant = _const(np.where(allowed, 0.0, -np.inf), dtype)
            bias = constant if bias is None else bb.normalize(op.add(bias, constant))
        return bias, mask is not None or left >= 0 or right >= 0

    # an external cache: per batch entry, nonpad[b] valid keys and the frontier they give
    lengths = op.reshape(op.astype(nonpad, "int64"), [batch, 1, 1, 1])
    rows = relax.const(np.arange(q_len, dtype=np.int64).reshape(1, 1, -1, 1), "int64")
    cols = relax.const(np.arange(kv_len, dtype=np.int64).reshape(1, 1, 1, -1), "int64")
    offset = op.subtract(lengths, relax.const(q_len, "int64"))
    allowed = op.less(cols, lengths)
    frontier = _allowed(_RelaxOps, rows, cols, offset, causal, left, right)
    if frontier is not None:
        allowed = op.logical_and(allowed, frontier)
    constant = op.where(allowed, _const(0.0, dtype), _const(-np.inf, dtype))
    bias = bb.normalize(constant if bias is None else op.add(bias, constant))
    return bias, True


class _RelaxOps:
    """The few numpy functions ``_allowed`` uses, on Relax expressions."""

    @staticmethod
    def less_equal(a, b):
        return op.less_equal(a, b)

    @staticmethod
    def logical_and(a, b):
        return op.logical_and(a, b)

    @staticmethod
    def add(a, b):
        return op.add(a, b)

    @staticmethod
    def subtract(a, b):
        return op.subtract(a, b)

    @staticmethod
    def const(value):
        return relax.const(value, "int64")


def _allowed(ops, rows, cols, offset, causal: bool, left: int, right: int):
    """Which (query, key) pairs the causal rule and the windows allow (query ``i`` at position
    ``i + offset``), or None when neither applies; ``ops`` is numpy or ``_RelaxOps``."""
    if not causal and left < 0 and right < 0:
        return None
    const = getattr(ops, "const", lambda v: v)
    position = ops.add(rows, offset)
    allowed = None

    def both(a, b):
        return b if a is None else ops.logical_and(a, b)

    if causal:
        allowed = both(allowed, ops.less_equal(cols, position))
    if left >= 0:  # position - j <= left
        allowed = both(allowed, ops.less_equal(ops.subtract(position, cols), const(left)))
    if right >= 0:  # j - position <= right
        allowed = both(allowed, ops.less_equal(ops.subtract(cols, position), const(right)))
    return allowed
