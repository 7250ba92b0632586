"""FoldAffineIntoConv: fold per-channel scales and shifts into the weights and bias of the
convolution or matrix multiplication that produces them.

Batch norm at inference, and the chains exporters emit instead of it (PaddlePaddle's
``conv -> add -> multiply -> add``, decomposed batch norm ``subtract -> divide -> multiply ->
add``), are affine maps applied per output channel c. With y = conv(x, W) (+ b):

    y * s[c]  = conv(x, W * s[c]) (+ b * s[c])        multiply, and divide by s: s -> 1/s
    y + t[c]  = conv(x, W) + (b + t[c])               add, and subtract t: t -> -t

so the whole chain collapses into one convolution with new constant weights plus one bias
add, which fusion then puts into the convolution's epilogue. The same holds for ``matmul(x, W)``
with constant W over its last axis, and for ``conv2d_transpose`` (groups = 1) whose output
channel is the kernel's O axis.

A step applies only when the scale/shift is a constant that varies at most along the channel
axis, the weight is a constant in a layout with an O axis, and the intermediate result is used
by nothing else (otherwise the convolution would be computed twice). Rewrites repeat until no
step applies.

Runs in the graph phase after DecomposeOpsForInference (which turns batch_norm into the chain)
and FoldConstant (which makes the chain's operands constants), before activation recognition
and fusion.
"""

from __future__ import annotations

import dataclasses
import numpy as np
import tvm
from tvm import relax
from tvm.relax.dpl import is_const, is_op, rewrite_call, wildcard

from edgec.passes.bindings import Bindings, channel_vector, constant_array, make_constant
from edgec.passes.rewrite_driver import rewrite_until_stable
from edgec.passes.rewrite_log import record

_MAX_ROUNDS = 16


@dataclasses.dataclass
class _Linear:
    """A matched producer: op(x, W) optionally followed by + bias."""

    call: relax.Call          # the conv2d / conv2d_transpose / matmul call
    bias: np.ndarray | None   # per-channel bias vector, or None
    biased: relax.Call | None  # the add(call, bias) node when there is a bias
    channels: int
    out_axis: int             # channel axis of the output tensor
    weight_axis: int          # output-channel axis of the weight


def _describe(call: relax.Call) -> tuple[int, int, int] | None:
    """(channels, output channel axis, weight output-channel axis) of a foldable producer."""
    if not isinstance(call, relax.Call) or not isinstance(call.op, tvm.ir.Op):
        return None
    name = call.op.name
    weight = constant_array(call.args[1])
    if weight is None:
        return None
    out_shape = [int(d) for d in call.ty.shape.values] if call.ty.shape is not None else None
    if out_shape is None:
        return None
    if name == "relax.nn.conv2d":
        attrs = call.attrs
        out_layout = str(attrs.out_layout or attrs.data_layout)
        kernel_layout = str(attrs.kernel_layout)
        if "C" not in out_layout or "O" not in kernel_layout or len(out_layout) != 4:
            return None
        return out_shape[out_layout.index("C")], out_layout.index("C"), kernel_layout.index("O")
    if name == "relax.nn.conv2d_transpose":
        attrs = call.attrs
        if int(attrs.groups) != 1 or str(attrs.kernel_layout) != "IOHW":
            return None
        out_layout = str(attrs.out_layout or attrs.data_layout)
        if out_layout != "NCHW":
            return None
        return out_shape[1], 1, 1
    if name == "relax.matmul" and weight.ndim == 2:
        return out_shape[-1], len(out_shape) - 1, 1
    return None


class _Rewriter:
    def __init__(self, func: relax.Function):
        self.bindings = Bindings(func)
        self.folded = 0
        self.by_op: dict[str, int] = {}
        x, w, bias = wildcard(), is_const(), is_const()
        linear = (is_op("relax.nn.conv2d")(x, w) | is_op("relax.nn.conv2d_transpose")(x, w)
                  | is_op("relax.matmul")(x, w))
        self.linear = linear
        self.biased = is_op("relax.add")(linear, bias)
        producer = self.biased | linear
        c = is_const()
        self.const = c
        self.pattern = (is_op("relax.multiply")(producer, c) | is_op("relax.multiply")(c, producer)
                        | is_op("relax.divide")(producer, c) | is_op("relax.add")(producer, c)
                        | is_op("relax.add")(c, producer) | is_op("relax.subtract")(producer, c))

    def _producer(self, expr) -> _Linear | None:
        call = expr
        bias = None
        biased = None
        if isinstance(call, relax.Call) and call.op.name == "relax.add":
            inner = call.args[0]
            described = _describe(self._value(inner))
            if described is None:
                return None
            channels, out_axis, weight_axis = described
            bias_array = constant_array(call.args[1])
            out_shape = [int(d) for d in call.ty.shape.values]
            bias = channel_vector(bias_array, len(out_shape), out_axis, channels)
            if bias is None or not self.bindings.single_use(self._value(inner)):
                return None
            biased, call = call, self._value(inner)
        described = _describe(call)
        if described is None:
            return None
        channels, out_axis, weight_axis = described
        return _Linear(call, bias, biased, channels, out_axis, weight_axis)

    def _value(self, expr):
        if isinstance(expr, relax.Var):
            return self.bindings.value_of.get(expr.__chandle__(), expr)
        return expr

    def __call__(self, orig: relax.Call, matched: dict) -> relax.Expr:
        op = orig.op.name
        args = list(orig.args)
        const_first = constant_array(args[0]) is not None and op in ("relax.multiply",
                                                                      "relax.add")
        producer_expr = self._value(args[1] if const_first else args[0])
        const = constant_array(args[0] if const_first else args[1])
        if const is None or not self.bindings.single_use(producer_expr):
            return orig
        linear = self._producer(producer_expr)
        if linear is None:
            return orig
        if op == "relax.add" and linear.biased is None:
            return orig  # conv + bias is already the folded form
        out_shape = [int(d) for d in orig.ty.shape.values]
        vector = channel_vector(const, len(out_shape), linear.out_axis, linear.channels)
        if vector is None:
            return orig
        dtype = str(orig.ty.dtype)
        if op in ("relax.multiply", "relax.divide"):
            if op == "relax.divide":
                if np.any(vector == 0):
                    return orig
                vector = 1.0 / vector
            result = self._scaled(linear, vector, dtype)
        else:
            shift = vector if op == "relax.add" else -vector
            bias = (linear.bias if linear.bias is not None else 0.0) + shift
            result = self._with_bias(linear.call, bias, linear, dtype)
        self.folded += 1
        kind = linear.call.op.name.rsplit(".", 1)[-1]
        rule = f"{kind}+{op.rsplit('.', 1)[-1]}"
        self.by_op[rule] = self.by_op.get(rule, 0) + 1
        return result

    def _scaled(self, linear: _Linear, scale: np.ndarray, dtype: str) -> relax.Expr:
        call = linear.call
        weight = constant_array(call.args[1]).astype(np.float64)
        shape = [1] * weight.ndim
        shape[linear.weight_axis] = linear.channels
        new_weight = make_constant(weight * scale.reshape(shape), str(call.args[1].ty.dtype))
        new_call = relax.Call(call.op, [call.args[0], new_weight], call.attrs, call.ty_args)
        if linear.bias is None:
            return new_call
        return self._with_bias(new_call, linear.bias * scale, linear, dtype)

    def _with_bias(self, call: relax.Call, bias: np.ndarray, linear: _Linear,
                   dtype: str) -> relax.Expr:
        shape = [1] * len(linear.call.ty.shape.values)
        shape[linear.out_axis] = linear.channels
        return relax.op.add(call, make_constant(bias.reshape(shape), dtype))


@tvm.transform.module_pass(opt_level=0, name="FoldAffineIntoConv")
class FoldAffineIntoConv:
    """See the module docstring."""

    def transform_module(self, mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        def one_round(func):
            rewriter = _Rewriter(func)
            func = rewrite_call(rewriter.pattern, rewriter, func)
            for rule, count in rewriter.by_op.items():
                record(f"fold {rule}", count)
            return func, rewriter.folded

        return rewrite_until_stable(mod, one_round, _MAX_ROUNDS)
