"""QDQToInteger: run quantized convolutions and matrix multiplications on integers.

A quantized model (ONNX QDQ, QOperator nodes imported into the same form, or a model edgec
calibrated) reaches Relax as float emulation:

    x = dequantize(x_q, s_x, z_x)                    activations: per tensor, int8 or uint8
    w = dequantize(W_q, s_w[o], 0)                   weights: per output channel, constant
    y = conv2d(x, w) + b            (or matmul)      b: float, constant
    y = relu(y) | clip(y, lo, hi)                    optional
    y_q = quantize(y, s_y, z_y)

Since x = s_x (x_q - z_x) and w = s_w[o] W_q[o], with the convolution's padding done with z_x
(the quantized zero) so every window is full:

    y[o] = s_x s_w[o] (conv(x_q, W_q)[o] - z_x sum(W_q[o]) + B[o]),   B = round(b / (s_x s_w))
    y_q  = clip(round_even(acc * M[o]) + z_y, lo_q, hi_q),            M = s_x s_w[o] / s_y

``acc`` is the int8 x int8 -> int32 convolution plus one int32 bias (B minus the zero-point
term, folded at compile time); the requantization is done in float32 (``acc`` converted,
multiplied by M, rounded ties-to-even), which is ONNX Runtime's arithmetic, and the activation
becomes the clip bounds lo_q/hi_q, so a ReLU costs nothing. The chain is elementwise after the
convolution: fusion puts it in the kernel's epilogue, and the result stays int8 for the next
layer. A convolution whose output is not quantized again (a float boundary) ends with
``astype(acc, float32) * s_x s_w[o]`` followed by the float bias. A matmul's integer product
is written as the 1x1 NHWC convolution over its rows that it is (``matmul_as_conv``), so the
lower phase puts it on the board's dot-product instruction like the convolutions.

An add of two dequantized tensors whose result (after an optional ReLU/clip) is quantized is
an int8 add: ``y_q = clip(round_even(a_q M_a + b_q M_b + c))`` in float32 on the integers
(``M = s / s_y``, ``c`` the zero points' term), as ONNX Runtime's QLinearAdd computes it; the
activation becomes the clip bounds.

A max pool, nearest-neighbour resize, concat, reshape or transpose between dequantizes and a
quantize with the same scale and zero point (a QDQ model that gives both sides one set of
parameters; calibrated layers whose ends edgec quantizes as the input after them) runs on the
integers:
``quantize(op(dequantize(x)))`` becomes ``op(x)``.

Weights whose zero point is not 0 are shifted into int8 when ``W_q - z_w`` fits (uint8 weights
with z_w = 128 do); otherwise, and for per-channel activations, the operator stays in float and
the reason is counted. Runs first in the graph phase, before constant folding turns the weights'
dequantize into float constants; it is a no-op on float models and idempotent.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tvm
from tvm import relax
from tvm.relax.dpl import is_op, rewrite_call, wildcard

from edgec.passes.bindings import Bindings, channel_vector, constant_array, ints, make_constant
from edgec.passes.dot_product_conv import matmul_as_conv
from edgec.passes.ops import round_even, scalar_argument
from edgec.passes.rewrite_driver import rewrite_until_stable
from edgec.passes.rewrite_log import record

_MAX_ROUNDS = 4
_CONV_LAYOUTS = ("NCHW", "NHWC")
_LINEAR_OPS = ("relax.nn.conv2d", "relax.matmul")
# operators that only select or move values: quantize(op(dequantize(x))) with the same scale
# and zero point on both sides is op(x) on the integers (max commutes with the monotonic
# rounding; a max pool's padding becomes the dtype's minimum, below every value)
TRANSPARENT_OPS = ("relax.nn.max_pool2d", "relax.reshape", "relax.permute_dims",
                   "relax.squeeze", "relax.expand_dims", "relax.flatten",
                   "relax.image.resize2d", "relax.concat")
ON_INTEGERS = "on int8: "


def is_transparent(call) -> bool:
    """Whether ``call`` only selects or moves values (resize2d: nearest neighbour only)."""
    if not isinstance(call, relax.Call) or not isinstance(call.op, tvm.ir.Op) \
            or call.op.name not in TRANSPARENT_OPS:
        return False
    return call.op.name != "relax.image.resize2d" or str(call.attrs.method) == "nearest_neighbor"


def data_inputs(call: relax.Call) -> list:
    """The tensors a transparent operator moves: a concat's fields, else its first argument."""
    first = call.args[0]
    return list(first.fields) if isinstance(first, relax.Tuple) else [first]
_FLOAT_ONLY_OPS = ("relax.nn.conv2d_transpose", "relax.nn.conv1d", "relax.nn.conv3d")
_QRANGE = {"int8": (-128, 127), "uint8": (0, 255)}

# rewrite-log keys, read by the compile report: "int8 <op>" and "<KEPT_IN_FLOAT> (<reason>)"
INT8_KERNEL = "int8 "
KEPT_IN_FLOAT = "quantized operator kept in float"


@dataclasses.dataclass
class _Weight:
    """A constant quantized weight in the layout its operator reads."""

    values: np.ndarray      # int8 after any zero-point shift
    scale: np.ndarray       # float64 per output channel
    out_axis: int


@dataclasses.dataclass
class _Input:
    data: relax.Expr        # the int8/uint8 tensor
    scale: float
    zero_point: int


class _Refused(Exception):
    """This quantized operator stays in float; the message is counted in the report."""


class _Rewriter:
    def __init__(self, func: relax.Function):
        self.bindings = Bindings(func)
        self.count = 0

    # -- looking through bindings ---------------------------------------------------------
    def value(self, expr):
        while isinstance(expr, relax.Var):
            bound = self.bindings.value_of.get(expr.__chandle__())
            if bound is None:
                return expr
            expr = bound
        return expr

    def _call(self, expr, *names):
        value = self.value(expr)
        if isinstance(value, relax.Call) and isinstance(value.op, tvm.ir.Op) \
                and value.op.name in names:
            return value
        return None

    def evaluate(self, expr) -> np.ndarray | None:
        """The value of a constant subexpression (dequantize, reshape, transpose, cast)."""
        value = self.value(expr)
        array = constant_array(value)
        if array is not None:
            return array
        if not isinstance(value, relax.Call) or not isinstance(value.op, tvm.ir.Op):
            return None
        name = value.op.name
        if name == "relax.dequantize":
            parts = [self.evaluate(a) for a in value.args[:3]]
            if any(p is None for p in parts):
                return None
            data, scale, zero = parts
            return _dequantized(data, scale, zero, int(value.attrs.axis))
        inner = self.evaluate(value.args[0]) if value.args else None
        if inner is None:
            return None
        if name == "relax.permute_dims":
            axes = value.attrs.axes
            return np.transpose(inner, ints(axes) if axes is not None else None)
        if name in ("relax.reshape", "relax.expand_dims", "relax.squeeze"):
            shape = value.ty.shape
            return inner.reshape(ints(shape.values)) if shape is not None else None
        if name == "relax.astype":
            return inner.astype(str(value.attrs.dtype))
        return None

    def scalar_parameters(self, scale, zero) -> tuple[float, int] | None:
        """A per-tensor (scale, zero point) pair given as constant subexpressions, or None."""
        parts = [self.evaluate(scale), self.evaluate(zero)]
        if any(p is None or p.size != 1 for p in parts):
            return None
        return float(parts[0].reshape(())), int(parts[1].reshape(()))

    # -- operands --------------------------------------------------------------------------
    def quantized_input(self, expr) -> _Input:
        dq = self._call(expr, "relax.dequantize")
        if dq is None:
            raise _Refused("input is not dequantized")
        data = dq.args[0]
        dtype = str(data.ty.dtype)
        if dtype not in _QRANGE:
            raise _Refused(f"{dtype} activations")
        params = self.scalar_parameters(dq.args[1], dq.args[2])
        if params is None:
            raise _Refused("per-channel or non-constant activation scale")
        return _Input(data, *params)

    def quantized_weight(self, expr, out_axis: int) -> _Weight:
        """``dequantize(W_q)`` possibly transposed or reshaped (TFLite's depthwise weights),
        with W_q a constant."""
        perm = None
        reshaped = None
        call = self._call(expr, "relax.permute_dims")
        if call is not None:
            rank = len(call.ty.shape.values)
            perm = ints(call.attrs.axes) if call.attrs.axes is not None \
                else list(reversed(range(rank)))
            expr = call.args[0]
        else:
            call = self._call(expr, "relax.reshape")
            if call is not None and call.ty.shape is not None:
                reshaped = ints(call.ty.shape.values)
                expr = call.args[0]
        dq = self._call(expr, "relax.dequantize")
        if dq is None:
            raise _Refused("weight is not a dequantized constant")
        parts = [self.evaluate(a) for a in dq.args[:3]]
        if any(p is None for p in parts):
            raise _Refused("weight is not a dequantized constant")
        values, scale, zero = parts
        if values.dtype not in (np.int8, np.uint8):
            raise _Refused(f"{values.dtype} weights")
        axis = int(dq.attrs.axis) % values.ndim
        shape = [1] * values.ndim
        if scale.size > 1:
            shape[axis] = -1
        shifted = values.astype(np.int32) - zero.astype(np.int32).reshape(shape)
        if shifted.min() < -128 or shifted.max() > 127:
            raise _Refused("weights with a zero point that does not shift into int8")
        scale = np.broadcast_to(scale.astype(np.float64).reshape(shape), values.shape)
        if perm is not None:
            shifted, scale = np.transpose(shifted, perm), np.transpose(scale, perm)
        if reshaped is not None:
            shifted, scale = shifted.reshape(reshaped), scale.reshape(reshaped)
        reduced = tuple(i for i in range(scale.ndim) if i != out_axis)
        per_channel = scale.max(axis=reduced) if reduced else scale
        if not np.allclose(scale.min(axis=reduced) if reduced else scale, per_channel,
                           rtol=1e-6, atol=0):
            raise _Refused("weight scale varies along an axis other than the output channels")
        return _Weight(shifted.astype(np.int8), per_channel, out_axis)

    # -- the rewrite -----------------------------------------------------------------------
    def linear_chain(self, expr):
        """Walk ``[clip|relu] <- [add bias] <- conv2d|matmul`` back from ``expr``."""
        expr, bounds = self.activation(expr)
        bias = None
        add = self._call(expr, "relax.add")
        if add is not None:
            for linear_arg, bias_arg in ((0, 1), (1, 0)):
                linear = self._call(add.args[linear_arg], *_LINEAR_OPS)
                if linear is not None:
                    bias = self.evaluate(add.args[bias_arg])
                    break
            if bias is None:
                raise _Refused("the add after the operator is not a constant bias")
            if not self.bindings.single_use(self.value(add.args[linear_arg])):
                raise _Refused("the operator's float result is used elsewhere")
            expr = add.args[linear_arg]
        linear = self._call(expr, *_LINEAR_OPS)
        if linear is None:
            return None
        return linear, bias, bounds

    def rewrite_transparent(self, call: relax.Call) -> relax.Expr | None:
        """``quantize(op(dequantize(x, s, z)), s, z)`` -> ``op(x)``, ``op`` transparent (also
        nested: a concat of a dequantized tensor and a resized one)."""
        if self._call(call.args[0], *TRANSPARENT_OPS) is None:
            return None
        params = self.scalar_parameters(call.args[1], call.args[2])
        if params is None:
            return None
        moved: list[str] = []
        result = self._on_integers(call.args[0], params, str(call.attrs.out_dtype), moved)
        if result is None:
            return None
        self.count += 1
        for name in moved:
            record(ON_INTEGERS + name)
        return result

    def _on_integers(self, expr, params, dtype: str, moved: list[str]):
        """``expr`` computed on the integers that dequantize with ``params`` into its inputs,
        or None."""
        dq = self._call(expr, "relax.dequantize")
        if dq is not None:
            if str(dq.args[0].ty.dtype) != dtype:
                return None
            if self.scalar_parameters(dq.args[1], dq.args[2]) != params:
                return None
            return dq.args[0]
        call = self._call(expr, *TRANSPARENT_OPS)
        if call is None or not is_transparent(call):
            return None
        fields = [self._on_integers(f, params, dtype, moved) for f in data_inputs(call)]
        if any(f is None for f in fields):
            return None
        moved.append(call.op.name.rsplit(".", 1)[-1])
        first = relax.Tuple(fields) if isinstance(call.args[0], relax.Tuple) else fields[0]
        return relax.Call(call.op, [first, *call.args[1:]], call.attrs, call.ty_args)

    def rewrite_quantize(self, call: relax.Call) -> relax.Expr:
        """``quantize(chain)`` -> integer operator + requantization, or ``call`` unchanged."""
        if not isinstance(call, relax.Call):
            return call
        moved = self.rewrite_transparent(call)
        if moved is not None:
            return moved
        added = self.rewrite_add(call)
        if added is not None:
            return added
        try:
            chain = self.linear_chain(call.args[0])
            if chain is None:
                return call
            linear, bias, bounds = chain
            if not self.bindings.single_use(self.value(call.args[0])):
                raise _Refused("the operator's float result is used elsewhere")
            out_dtype = str(call.attrs.out_dtype)
            out = self.scalar_parameters(call.args[1], call.args[2])
            if out_dtype not in _QRANGE or out is None:
                raise _Refused("output quantized per channel or not to int8/uint8")
            acc, combined, channel_axis, rank = self.integer_accumulator(linear, bias)
        except _Refused:
            return call
        s_y, z_y = out
        lo, hi = _clip_range(bounds, s_y, z_y, out_dtype)
        multiplier = _channel_const(combined / np.float32(s_y), channel_axis, rank, "float32")
        scaled = relax.op.multiply(relax.op.astype(acc, "float32"), multiplier)
        rounded = round_even(scaled)
        if z_y:
            rounded = relax.op.add(rounded, relax.const(float(z_y), "float32"))
        clipped = relax.op.clip(rounded, relax.prim_value(float(lo)), relax.prim_value(float(hi)))
        self.count += 1
        record(INT8_KERNEL + linear.op.name.rsplit(".", 1)[-1])
        return relax.op.astype(clipped, out_dtype)

    def activation(self, expr):
        """(what a single-use ReLU/clip at ``expr`` reads, its (lo, hi) bounds), or
        (``expr``, None) when there is none."""
        act = self._call(expr, "relax.nn.relu", "relax.clip")
        if act is None or not self.bindings.single_use(act):
            return expr, None
        if act.op.name == "relax.nn.relu":
            return act.args[0], (0.0, None)
        try:
            return act.args[0], tuple(scalar_argument(a) for a in act.args[1:3])
        except (AttributeError, TypeError, ValueError):
            raise _Refused("clip bounds are not constants") from None

    def rewrite_add(self, call: relax.Call) -> relax.Expr | None:
        """``quantize([relu|clip](dequantize(a) + dequantize(b)), s_y, z_y)`` -> the int8 add

            y_q = clip(round_even(a M_a + b M_b + c) , lo_q, hi_q),   M = s / s_y,
            c = z_y - z_a M_a - z_b M_b

        in float32 on the integers (ONNX Runtime's QLinearAdd arithmetic), the activation as
        the clip bounds; None if ``call`` is not that."""
        try:
            inner, bounds = self.activation(call.args[0])
        except _Refused:
            return None
        add = self._call(inner, "relax.add")
        out = self.scalar_parameters(call.args[1], call.args[2])
        out_dtype = str(call.attrs.out_dtype)
        if add is None or out is None or out_dtype not in _QRANGE:
            return None
        try:
            operands = [self.quantized_input(a) for a in add.args]
        except _Refused:
            return None
        s_y, z_y = out
        lo, hi = _clip_range(bounds, s_y, z_y, out_dtype)
        total = None
        offset = float(z_y)
        for x in operands:
            m = np.float32(x.scale) / np.float32(s_y)
            term = relax.op.multiply(relax.op.astype(x.data, "float32"),
                                     relax.const(m, "float32"))
            total = term if total is None else relax.op.add(total, term)
            offset -= float(m) * x.zero_point
        if offset:
            total = relax.op.add(total, relax.const(np.float32(offset), "float32"))
        clipped = relax.op.clip(round_even(total), relax.prim_value(float(lo)),
                                relax.prim_value(float(hi)))
        self.count += 1
        record(INT8_KERNEL + "add")
        return relax.op.astype(clipped, out_dtype)

    def rewrite_float_output(self, call: relax.Call) -> relax.Expr:
        """``conv2d|matmul(dequantize(x), dequantize(W))`` whose result stays float."""
        if not isinstance(call, relax.Call):  # rewrite_call can hand over a bound variable
            return call
        try:
            self.quantized_input(call.args[0])
            acc, combined, channel_axis, rank = self.integer_accumulator(call, None)
        except _Refused:
            return call
        self.count += 1
        record(INT8_KERNEL + call.op.name.rsplit(".", 1)[-1] + " (float output)")
        out_dtype = str(call.ty.dtype)
        scaled = relax.op.multiply(relax.op.astype(acc, "float32"),
                                   _channel_const(combined, channel_axis, rank, "float32"))
        return scaled if out_dtype == "float32" else relax.op.astype(scaled, out_dtype)

    def integer_accumulator(self, linear: relax.Call, bias: np.ndarray | None):
        """(int32 accumulator expr, s_x * s_w per channel, channel axis, output rank)."""
        rank = len(linear.ty.shape.values)
        if linear.op.name == "relax.nn.conv2d":
            attrs = linear.attrs
            data_layout, kernel_layout = str(attrs.data_layout), str(attrs.kernel_layout)
            if data_layout not in _CONV_LAYOUTS or str(attrs.out_layout or data_layout) \
                    != data_layout or sorted(kernel_layout) != sorted("OIHW"):
                raise _Refused(f"conv2d in {data_layout}/{kernel_layout}")
            channel_axis, weight_axis = data_layout.index("C"), kernel_layout.index("O")
        else:
            if len(linear.args[1].ty.shape.values) != 2:
                raise _Refused("matmul with a batched weight")
            channel_axis, weight_axis = rank - 1, 1
        if str(linear.ty.dtype) not in ("float32", "float16"):
            raise _Refused(f"{linear.ty.dtype} result")
        x = self.quantized_input(linear.args[0])
        weight = self.quantized_weight(linear.args[1], weight_axis)
        # float32 arithmetic, as ONNX Runtime computes its requantization scales
        combined = np.float32(x.scale) * weight.scale.astype(np.float32)
        sums = weight.values.astype(np.int64).sum(
            axis=tuple(i for i in range(weight.values.ndim) if i != weight_axis))
        offset = -x.zero_point * sums
        if bias is not None:
            vector = channel_vector(bias, rank, channel_axis, combined.size)
            if vector is None:
                raise _Refused("bias is not per output channel")
            offset = offset + np.rint(vector / combined.astype(np.float64)).astype(np.int64)
        if np.abs(offset).max(initial=0) >= 2 ** 31:
            raise _Refused("bias does not fit int32")
        if linear.op.name == "relax.nn.conv2d":
            # The integer convolution is written in NCHW/OIHW whatever the model's layout
            # (TFLite: NHWC with HWIO/HWOI weights); the layout phase gives it the board's.
            attrs = linear.attrs
            kernel_layout = str(attrs.kernel_layout)
            w_const = make_constant(np.transpose(weight.values,
                                                 [kernel_layout.index(c) for c in "OIHW"]),
                                    "int8")
            nhwc = str(attrs.data_layout) == "NHWC"
            top, left, bottom, right = ints(attrs.padding)
            data = relax.op.permute_dims(x.data, [0, 3, 1, 2]) if nhwc else x.data
            if top or left or bottom or right:
                data = relax.op.nn.pad(data, [0, 0, 0, 0, top, bottom, left, right],
                                       pad_value=float(x.zero_point))
            acc = relax.op.nn.conv2d(data, w_const, strides=ints(attrs.strides), padding=0,
                                     dilation=ints(attrs.dilation), groups=int(attrs.groups),
                                     out_dtype="int32")
            if nhwc:
                acc = relax.op.permute_dims(acc, [0, 2, 3, 1])
        else:  # as a 1x1 conv over the rows, for DotProductConv (module docstring)
            acc = matmul_as_conv(x.data, weight.values)
        if np.any(offset):
            acc = relax.op.add(acc, _channel_const(offset, channel_axis, rank, "int32"))
        return acc, combined, channel_axis, rank


def _clip_range(bounds, s_y: float, z_y: int, dtype: str) -> tuple[int, int]:
    """The quantized range of ``dtype`` narrowed by an activation's float (lo, hi) bounds
    (None or infinite: no bound)."""
    lo, hi = _QRANGE[dtype]
    if bounds is not None:
        if bounds[0] is not None and np.isfinite(bounds[0]):
            lo = max(lo, z_y + int(np.rint(bounds[0] / s_y)))
        if bounds[1] is not None and np.isfinite(bounds[1]):
            hi = min(hi, z_y + int(np.rint(bounds[1] / s_y)))
    return lo, hi


def _dequantized(data, scale, zero, axis: int) -> np.ndarray:
    shape = [1] * data.ndim
    if scale.size > 1 or zero.size > 1:
        shape[axis % data.ndim] = -1
    return ((data.astype(np.float64) - zero.astype(np.float64).reshape(shape))
            * scale.astype(np.float64).reshape(shape)).astype(np.float32)


def _channel_const(vector: np.ndarray, axis: int, rank: int, dtype: str) -> relax.Expr:
    shape = [1] * rank
    shape[axis] = -1
    return make_constant(np.asarray(vector).reshape(shape), dtype)


def _one_round(func: relax.Function) -> tuple[relax.Function, int]:
    total = 0
    rewriter = _Rewriter(func)
    func = rewrite_call(is_op("relax.quantize")(wildcard(), wildcard(), wildcard()),
                        lambda expr, _: rewriter.rewrite_quantize(expr), func)
    total += rewriter.count
    func = relax.analysis.remove_all_unused(func)
    rewriter = _Rewriter(func)
    linear = is_op("relax.nn.conv2d")(wildcard(), wildcard()) \
        | is_op("relax.matmul")(wildcard(), wildcard())
    func = rewrite_call(linear, lambda expr, _: rewriter.rewrite_float_output(expr), func)
    total += rewriter.count
    return func, total


def _record_float_leftovers(mod: tvm.IRModule) -> None:
    """Count each conv2d/matmul that still reads a dequantized input, with the reason."""
    for _, func in mod.functions_items():
        if not isinstance(func, relax.Function):
            continue
        rewriter = _Rewriter(func)
        for value in relax.analysis.get_var2val(func).values():
            other = rewriter._call(value, *_FLOAT_ONLY_OPS)
            if other is not None \
                    and rewriter._call(other.args[0], "relax.dequantize") is not None:
                record(f"{KEPT_IN_FLOAT} ({other.op.name.rsplit('.', 1)[-1]} "
                       "has no int8 kernel yet)")
                continue
            call = rewriter._call(value, *_LINEAR_OPS)
            if call is None or rewriter._call(call.args[0], "relax.dequantize") is None:
                continue
            try:
                rewriter.integer_accumulator(call, None)
                reason = "not followed by a quantize this pass can fuse"
            except _Refused as why:
                reason = str(why)
            record(f"{KEPT_IN_FLOAT} ({reason})")


@tvm.transform.module_pass(opt_level=0, name="QDQToInteger")
class QDQToInteger:
    def transform_module(self, mod: tvm.IRModule, ctx) -> tvm.IRModule:
        mod = rewrite_until_stable(mod, _one_round, _MAX_ROUNDS)
        _record_float_leftovers(mod)
        return mod
