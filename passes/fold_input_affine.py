"""FoldInputAffine: fold a per-channel scale and shift applied to the *input* of a convolution
or matrix multiplication into its weights and a bias.

PP-LCNet (PaddleOCR's backbone) puts a learnable affine after every activation, right before
the next convolution; LayerNorm ends in ``* gamma + beta`` before a matmul. With s, t per input
channel c and W[o, c, kh, kw] (c running over the input channels of o's group):

    conv(x * s + t, W) = conv(x, W * s[c]) + sum_{c,kh,kw} W[o, c, kh, kw] * t[c]
    (x * s + t) @ W    = x @ (s[:, None] * W) + t @ W

The scale folds exactly for any padding (padded zeros stay zero). The shift folds only when
the convolution has no padding (otherwise padded positions would see 0 instead of t); with
padding, the scale is folded and the shift stays as an add before the convolution.

Applies when s and t are constants varying at most along the channel axis, the weight is a
constant (conv2d OIHW with NCHW data, or a 2-D matmul weight), and the affine's result feeds
nothing else. Runs in the graph phase right after FoldAffineIntoConv (whose output-side bias
adds it then merges with).
"""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax
from tvm.relax.dpl import is_const, is_op, rewrite_call, wildcard

from edgec.passes.bindings import Bindings, constant_array, make_constant
from edgec.passes.rewrite_driver import rewrite_until_stable
from edgec.passes.rewrite_log import record

_MAX_ROUNDS = 8


def _per_channel(const: np.ndarray | None, shape: list[int], axis: int) -> np.ndarray | None:
    if const is None or const.ndim > len(shape):
        return None
    padded = (1,) * (len(shape) - const.ndim) + tuple(const.shape)
    if any(size != 1 and i != axis for i, size in enumerate(padded)):
        return None
    channels = shape[axis]
    if padded[axis] not in (1, channels):
        return None
    return np.broadcast_to(const.reshape(padded[axis]), (channels,)).astype(np.float64)


def _input_channel_map(weight_shape, groups: int) -> np.ndarray:
    """For OIHW weights: the input channel each (o, i) weight slice reads."""
    out_channels, in_per_group = weight_shape[0], weight_shape[1]
    out_per_group = out_channels // groups
    o = np.arange(out_channels)[:, None]
    i = np.arange(in_per_group)[None, :]
    return (o // out_per_group) * in_per_group + i


class _Rewriter:
    def __init__(self, func: relax.Function):
        self.bindings = Bindings(func)
        self.count = 0
        self.x, self.s, self.t, self.w = wildcard(), is_const(), is_const(), is_const()
        scaled = is_op("relax.multiply")(self.x, self.s) | is_op("relax.multiply")(self.s, self.x)
        shifted = (is_op("relax.add")(scaled, self.t) | is_op("relax.add")(self.t, scaled)
                   | is_op("relax.add")(self.x, self.t) | is_op("relax.add")(self.t, self.x))
        self.pre = shifted | scaled
        self.pattern = (is_op("relax.nn.conv2d")(self.pre, self.w)
                        | is_op("relax.matmul")(self.pre, self.w))

    def _value(self, expr):
        if isinstance(expr, relax.Var):
            return self.bindings.value_of.get(expr.__chandle__(), expr)
        return expr

    def __call__(self, orig: relax.Call, m: dict) -> relax.Expr:
        pre = m[self.pre]
        if not self.bindings.single_use(pre):
            return orig
        if pre.op.name == "relax.add":
            # x * s + t: the multiply must feed only the add, or it would be computed twice
            inner = self._value(pre.args[0] if constant_array(pre.args[1]) is not None
                                else pre.args[1])
            if isinstance(inner, relax.Call) and getattr(inner.op, "name", "") == \
                    "relax.multiply" and not self.bindings.single_use(inner):
                return orig
        x = m[self.x]
        in_shape = [int(d) for d in x.ty.shape.values]
        weight = constant_array(m[self.w]).astype(np.float64)
        if orig.op.name == "relax.nn.conv2d":
            return self._conv(orig, m, x, in_shape, weight)
        return self._matmul(orig, m, x, in_shape, weight)

    def _affine(self, m, shape, axis):
        scale = _per_channel(constant_array(m[self.s]), shape, axis) if self.s in m else None
        shift = _per_channel(constant_array(m[self.t]), shape, axis) if self.t in m else None
        if (self.s in m and scale is None) or (self.t in m and shift is None):
            return None
        return scale, shift

    def _conv(self, orig, m, x, in_shape, weight):
        attrs = orig.attrs
        if str(attrs.data_layout) != "NCHW" or str(attrs.kernel_layout) != "OIHW" or \
                (attrs.out_layout and str(attrs.out_layout) != "NCHW"):
            return orig
        affine = self._affine(m, in_shape, 1)
        if affine is None:
            return orig
        scale, shift = affine
        channel = _input_channel_map(weight.shape, int(attrs.groups))
        new_weight = weight * scale[channel][:, :, None, None] if scale is not None else weight
        unpadded = all(int(p) == 0 for p in attrs.padding)
        dtype = str(orig.ty.dtype)
        w_const = make_constant(new_weight, str(m[self.w].ty.dtype))
        if shift is None or unpadded:
            result = relax.Call(orig.op, [x, w_const], orig.attrs, orig.ty_args)
            if shift is not None:
                bias = np.einsum("oikl,oi->o", weight, shift[channel])
                result = relax.op.add(result, make_constant(bias.reshape(1, -1, 1, 1), dtype))
        else:
            if scale is None:
                return orig  # shift alone into a padded conv: nothing can fold
            shifted = relax.op.add(x, make_constant((shift / scale).reshape(1, -1, 1, 1), dtype)) \
                if np.all(scale != 0) else None
            if shifted is None:
                return orig
            # x*s + t = (x + t/s) * s: the scale goes into W, the shift stays before the conv
            result = relax.Call(orig.op, [shifted, w_const], orig.attrs, orig.ty_args)
        self.count += 1
        record("fold input affine into conv2d")
        return result

    def _matmul(self, orig, m, x, in_shape, weight):
        if weight.ndim != 2:
            return orig
        affine = self._affine(m, in_shape, len(in_shape) - 1)
        if affine is None:
            return orig
        scale, shift = affine
        new_weight = weight * scale[:, None] if scale is not None else weight
        dtype = str(orig.ty.dtype)
        result = relax.Call(orig.op, [x, make_constant(new_weight, str(m[self.w].ty.dtype))],
                            orig.attrs, orig.ty_args)
        if shift is not None:
            result = relax.op.add(result, make_constant(shift @ weight, dtype))
        self.count += 1
        record("fold input affine into matmul")
        return result


@tvm.transform.module_pass(opt_level=0, name="FoldInputAffine")
class FoldInputAffine:
    """See the module docstring."""

    def transform_module(self, mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        def one_round(func):
            rewriter = _Rewriter(func)
            return rewrite_call(rewriter.pattern, rewriter, func), rewriter.count

        return rewrite_until_stable(mod, one_round, _MAX_ROUNDS)
