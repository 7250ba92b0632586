"""SinkTransposes: move ``permute_dims`` through elementwise operations until it meets its
inverse, so that a layout change never leaves a transpose pair behind.

ConvertLayout rewrites convolutions to the board's layout (e.g. NHWC) and converts back with
``permute_dims`` wherever it cannot propagate the layout, typically at elementwise operations
whose other operand is a per-channel constant shaped for NCHW (``multiply(x, c[1,C,1,1])``).
This pass pushes each transpose below the operation, transposing the constant instead:

    op(permute_dims(x, p), c)         ->  permute_dims(op(x, transpose(c, p^-1)), p)
    op(permute_dims(x, p), permute_dims(y, p))  ->  permute_dims(op(x, y), p)
    u(permute_dims(x, p))             ->  permute_dims(u(x), p)    (u elementwise unary, astype)
    pad(permute_dims(x, p), widths)   ->  permute_dims(pad(x, widths moved to x's axes), p)
    (de)quantize(permute_dims(x, p), s, z, axis)  ->  permute_dims((de)quantize(x, .., p[axis]), p)
    mean/sum/max(permute_dims(x, p), axes, keepdims)  ->  permute_dims(reduce(x, p[axes]), p)

and SimplifyOps then cancels ``permute_dims(permute_dims(x, p), p^-1)`` pairs. A transpose is
only moved when its result feeds nothing else (otherwise it would be duplicated). Values are
unchanged. Runs at -O3, after ConvertLayout.
"""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax
from tvm.relax.dpl import is_const, is_op, rewrite_call, wildcard

from edgec.passes import ops
from edgec.passes.bindings import Bindings, constant_array, make_constant
from edgec.passes.rewrite_log import record

_ROUNDS = 32
_BINARY = ("relax.add", "relax.subtract", "relax.multiply", "relax.divide", "relax.maximum",
           "relax.minimum")
_UNARY = ("relax.nn.relu", "relax.sigmoid", "relax.nn.silu", "relax.nn.gelu",
          "relax.tanh", "relax.exp", "relax.sqrt", "relax.clip", "relax.astype",
          "relax.round", ops.ROUND_EVEN, ops.HARD_SWISH, ops.HARD_SIGMOID)
_QDQ = ("relax.quantize", "relax.dequantize")
_REDUCE = ("relax.mean", "relax.sum", "relax.max", "relax.min")


def _perm(call) -> list[int]:
    axes = call.attrs.axes
    rank = len(call.args[0].ty.shape.values)
    return [int(a) for a in axes] if axes is not None else list(reversed(range(rank)))


class _Rewriter:
    def __init__(self, func):
        self.bindings = Bindings(func)
        self.count = 0
        x, y, c = wildcard(), wildcard(), is_const()
        self.x, self.y, self.c = x, y, c
        self.tx = is_op("relax.permute_dims")(x)
        self.ty = is_op("relax.permute_dims")(y)
        binary_const = None
        for op in _BINARY:
            alts = is_op(op)(self.tx, c) | is_op(op)(c, self.tx) | is_op(op)(self.tx, self.ty)
            binary_const = alts if binary_const is None else binary_const | alts
        unary = None
        for op in _UNARY:
            # one wildcard per extra argument: a pattern used twice must match one expression
            extra = [wildcard() for _ in range(self._extra_args(op))]
            alt = is_op(op)(self.tx, *extra)
            unary = alt if unary is None else unary | alt
        unary = unary | is_op("relax.nn.pad")(self.tx)
        for op in _QDQ:
            unary = unary | is_op(op)(self.tx, is_const(), is_const())
        reduce = None
        for op in _REDUCE:
            alt = is_op(op)(self.tx)
            reduce = alt if reduce is None else reduce | alt
        self.pattern = binary_const | unary | reduce

    @staticmethod
    def _extra_args(op: str) -> int:
        return {"relax.clip": 2, ops.HARD_SIGMOID: 2}.get(op, 0)

    def _single(self, expr) -> bool:
        return self.bindings.single_use(expr)

    def __call__(self, orig: relax.Call, m: dict) -> relax.Expr:
        transposed = m[self.tx]
        if not self._single(transposed):
            return orig
        perm = _perm(transposed)
        inverse = list(np.argsort(perm))
        x = m[self.x]
        name = orig.op.name
        args = list(orig.args)
        if name in _BINARY:
            if self.ty in m:
                other = m[self.ty]
                if other.__chandle__() == transposed.__chandle__() or _perm(other) != perm or \
                        not self._single(other):
                    return orig
                new_args = [x, m[self.y]] if args[0].__chandle__() == transposed.__chandle__() \
                    or self._is(args[0], transposed) else [m[self.y], x]
            else:
                const = constant_array(m[self.c])
                rank = len(perm)
                if const.ndim > rank:
                    return orig
                # Broadcasting aligns trailing axes: pad to full rank, then undo the permutation.
                padded = const.reshape((1,) * (rank - const.ndim) + const.shape)
                moved = np.transpose(padded, inverse)
                new_const = make_constant(moved, str(m[self.c].ty.dtype))
                new_args = [x, new_const] if self._is(args[0], transposed) else [new_const, x]
            inner = relax.Call(orig.op, new_args, orig.attrs, orig.ty_args)
        elif name in _REDUCE:
            attrs = orig.attrs
            if not attrs.keepdims or attrs.axis is None:
                return orig
            rank = len(perm)
            axes = [perm[int(a) % rank] for a in attrs.axis]
            op_fn = {"relax.mean": relax.op.mean, "relax.sum": relax.op.sum,
                     "relax.max": relax.op.max, "relax.min": relax.op.min}[name]
            inner = op_fn(x, axis=axes, keepdims=True)
        elif name in _QDQ:
            attrs = orig.attrs
            axis = perm[int(attrs.axis) % len(perm)]
            make = relax.op.quantize if name == "relax.quantize" else relax.op.dequantize
            inner = make(x, args[1], args[2], axis=axis, out_dtype=str(attrs.out_dtype))
        elif name == "relax.nn.pad":
            attrs = orig.attrs
            if str(attrs.pad_mode) != "constant":
                return orig
            widths = [int(w) for w in attrs.pad_width]
            # output axis j is input axis perm[j]: its (before, after) widths move there
            moved = [0] * len(widths)
            for j, axis in enumerate(perm):
                moved[2 * axis:2 * axis + 2] = widths[2 * j:2 * j + 2]
            inner = relax.op.nn.pad(x, moved, pad_value=float(attrs.pad_value))
        else:
            inner = relax.Call(orig.op, [x, *args[1:]], orig.attrs, orig.ty_args)
        self.count += 1
        record("sink permute_dims")
        return relax.op.permute_dims(inner, perm)

    def _is(self, arg, transposed) -> bool:
        if isinstance(arg, relax.Var):
            value = self.bindings.value_of.get(arg.__chandle__())
            return value is not None and value.__chandle__() == transposed.__chandle__()
        return arg.__chandle__() == transposed.__chandle__()


@tvm.transform.module_pass(opt_level=0, name="SinkTransposes")
class SinkTransposes:
    """See the module docstring."""

    def transform_module(self, mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        from edgec.passes.simplify_ops import SimplifyOps

        changed = False
        for _ in range(_ROUNDS):
            updates = {}
            for gvar, func in mod.functions_items():
                if not isinstance(func, relax.Function):
                    continue
                rewriter = _Rewriter(func)
                new = rewrite_call(rewriter.pattern, rewriter, func)
                if rewriter.count:
                    updates[gvar] = new
            if not updates:
                break
            changed = True
            mod = mod.clone()
            for gvar, func in updates.items():
                mod[gvar] = func
            mod = SimplifyOps()(relax.transform.DeadCodeElimination()(mod))
        return mod if changed else mod
