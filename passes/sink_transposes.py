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
    resize2d(permute_dims(x, NHWC->NCHW), layout=NCHW)  ->  permute_dims(resize2d(x, NHWC), ..)
    concat(permute_dims(x_i, p).., axis)  ->  permute_dims(concat(x_i.., p[axis]), p)

and the depth-to-space (pixel shuffle) that SplitTransposedConv writes in NCHW, when its input
comes out of NHWC, is rewritten as the same shuffle in NHWC followed by the transpose:

    reshape(permute_dims(reshape(permute_dims(x, [0,3,1,2]), [N,C,r,r,H,W]), [0,1,4,2,5,3]),
            [N,C,H*r,W*r])
      ->  permute_dims(reshape(permute_dims(reshape(x, [N,H,W,C,r,r]), [0,1,4,2,5,3]),
                               [N,H*r,W*r,C]), [0,3,1,2])

(both compute out[n, c, h*r+i, w*r+j] = x[n, h, w, c*r*r + i*r + j]).

SimplifyOps then cancels ``permute_dims(permute_dims(x, p), p^-1)`` pairs. A transpose whose
result feeds several operations is moved only when every path from it, followed through
the operations above, ends at its inverse (the squeeze-and-excitation blocks of mobile CNNs
read one tensor twice, by a mean and by a multiply): then every copy cancels. Otherwise it
stays, so a transpose is never duplicated for nothing. Values are unchanged. Runs at -O3,
after ConvertLayout.
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
_RESIZE = "relax.image.resize2d"
_CONCAT = "relax.concat"
# resize2d's layout after sinking a transpose with this permutation
_RESIZE_LAYOUTS = {((0, 3, 1, 2), "NCHW"): "NHWC", ((0, 2, 3, 1), "NHWC"): "NCHW"}
_SHUFFLE = [0, 1, 4, 2, 5, 3]  # depth-to-space: (n, c, i, j, h, w) -> (n, c, h, i, w, j)


def _perm(call) -> list[int]:
    axes = call.attrs.axes
    rank = len(call.args[0].ty.shape.values)
    return [int(a) for a in axes] if axes is not None else list(reversed(range(rank)))


def _static(expr) -> list[int] | None:
    shape = getattr(expr.ty, "shape", None)
    values = getattr(shape, "values", None)
    if values is None or not all(isinstance(v, tvm.tirx.IntImm) for v in values):
        return None
    return [int(v) for v in values]


def _is_permute(value) -> bool:
    return (isinstance(value, relax.Call) and isinstance(value.op, tvm.ir.Op)
            and value.op.name == "relax.permute_dims")


def _operand_vars(call: relax.Call) -> list[relax.Var]:
    """The variables a call reads (tuple arguments, as concat's, looked into)."""
    found = []
    for arg in call.args:
        for item in (arg.fields if isinstance(arg, relax.Tuple) else [arg]):
            if isinstance(item, relax.Var):
                found.append(item)
    return found


def _result_vars(body) -> list[relax.Var]:
    """The variables the function returns (a var or a tuple of vars)."""
    result = body.body
    fields = result.fields if isinstance(result, relax.Tuple) else [result]
    return [f for f in fields if isinstance(f, relax.Var)]


class _Rewriter:
    def __init__(self, func):
        self.func_body = func.body
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
        resize = is_op(_RESIZE)(self.tx, wildcard())
        concat = is_op(_CONCAT)(wildcard())
        self.shuffle_in = is_op("relax.reshape")(self.tx, wildcard())
        self.shuffle_mid = is_op("relax.permute_dims")(self.shuffle_in)
        shuffle = is_op("relax.reshape")(self.shuffle_mid, wildcard())
        self.pattern = binary_const | unary | reduce | resize | concat | shuffle
        self._bindings = [(b.var, b.value) for block in func.body.blocks
                          for b in block.bindings]
        self._cancelling: dict[tuple, set[int]] = {}

    @staticmethod
    def _extra_args(op: str) -> int:
        return {"relax.clip": 2, ops.HARD_SIGMOID: 2}.get(op, 0)

    def _movable(self, transposed) -> bool:
        """Moving ``transposed`` duplicates nothing: it has one use, or every path from it
        ends at its inverse (module docstring)."""
        if self._single(transposed):
            return True
        var = self.bindings.var_of.get(transposed.__chandle__())
        perm = tuple(_perm(transposed))
        if perm not in self._cancelling:
            self._cancelling[perm] = self._transposes_that_cancel(list(perm))
        return var is not None and var.__chandle__() in self._cancelling[perm]

    def _transposes_that_cancel(self, perm: list[int]) -> set[int]:
        """The transposes by ``perm`` all of whose paths end at the inverse transpose.

        Decided jointly: two transposed tensors added together both move or neither does
        (each path needs the other's). Forward over the bindings, every value computed from
        transposed ones by an operation the transpose can pass (``_carries``) records which
        transposes it comes from; a use that stops the transpose, or the function's result,
        rules those out; repeat until none is ruled out."""
        inverse = [int(i) for i in np.argsort(perm)]
        candidates = {key for key, value in self.bindings.value_of.items()
                      if _is_permute(value) and _perm(value) == perm}
        while candidates:
            sources: dict[int, frozenset] = {k: frozenset([k]) for k in candidates}
            ruled_out: set[int] = set()
            for var, value in self._bindings:
                if var.__chandle__() in candidates or not isinstance(value, relax.Call):
                    continue
                reached = frozenset().union(*(sources.get(v.__chandle__(), frozenset())
                                              for v in _operand_vars(value)))
                if not reached:
                    continue
                if _is_permute(value) and _perm(value) == inverse:
                    continue  # cancels here
                if self._carries(value, sources, perm):
                    sources[var.__chandle__()] = reached
                else:
                    ruled_out |= reached
            for out in _result_vars(self.func_body):
                ruled_out |= sources.get(out.__chandle__(), frozenset())
            if not ruled_out:
                break
            candidates -= ruled_out
        return candidates

    def _is_transposed(self, expr, carried, perm: list[int]) -> bool:
        if not isinstance(expr, relax.Var):
            return False
        if expr.__chandle__() in carried:
            return True
        value = self.bindings.value_of.get(expr.__chandle__())
        return _is_permute(value) and _perm(value) == perm and self._single(value)

    def _carries(self, value, carried: set, perm: list[int]) -> bool:
        """Whether ``value`` would take a transposed operand (or all) and give a result the
        transpose can follow, the way ``__call__`` rewrites it."""
        if not isinstance(value, relax.Call) or not isinstance(value.op, tvm.ir.Op):
            return False
        name, args = value.op.name, value.args
        if name in _BINARY:
            return all(self._is_transposed(a, carried, perm)
                       or (constant_array(a) is not None and constant_array(a).ndim <= len(perm))
                       for a in args)
        if name in _UNARY or name == "relax.nn.pad":
            return name != "relax.nn.pad" or str(value.attrs.pad_mode) == "constant"
        if name in _QDQ:
            return all(constant_array(a) is not None for a in args[1:])
        if name in _REDUCE:
            return bool(value.attrs.keepdims) and value.attrs.axis is not None
        if name == _RESIZE:
            return (tuple(perm), str(value.attrs.layout)) in _RESIZE_LAYOUTS
        if name == _CONCAT:
            return isinstance(args[0], relax.Tuple) and all(
                self._is_transposed(f, carried, perm) for f in args[0].fields)
        return False

    def _single(self, expr) -> bool:
        return self.bindings.single_use(expr)

    def __call__(self, orig: relax.Call, m: dict) -> relax.Expr:
        name = orig.op.name
        if name == _CONCAT:
            return self._concat(orig)
        transposed = m[self.tx]
        if not self._movable(transposed):
            return orig
        perm = _perm(transposed)
        inverse = list(np.argsort(perm))
        x = m[self.x]
        args = list(orig.args)
        if name == "relax.reshape":
            return self._shuffle(orig, m, x, perm)
        if name in _BINARY:
            if self.ty in m:
                other = m[self.ty]
                if other.__chandle__() == transposed.__chandle__() or _perm(other) != perm or \
                        not self._movable(other):
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
        elif name == _RESIZE:
            attrs = orig.attrs
            layout = _RESIZE_LAYOUTS.get((tuple(perm), str(attrs.layout)))
            if layout is None:
                return orig
            inner = relax.op.image.resize2d(
                x, args[1], roi=[float(r.value) for r in attrs.roi], layout=layout,
                method=str(attrs.method),
                coordinate_transformation_mode=str(attrs.coordinate_transformation_mode),
                rounding_method=str(attrs.rounding_method), cubic_alpha=float(attrs.cubic_alpha),
                cubic_exclude=int(attrs.cubic_exclude),
                extrapolation_value=float(attrs.extrapolation_value),
                out_dtype=attrs.out_dtype)
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

    def _concat(self, orig: relax.Call) -> relax.Expr:
        fields = orig.args[0].fields if isinstance(orig.args[0], relax.Tuple) else []
        values = [self.bindings.value_of.get(f.__chandle__()) if isinstance(f, relax.Var)
                  else None for f in fields]
        if not values or any(not isinstance(v, relax.Call) or v.op.name != "relax.permute_dims"
                             for v in values):
            return orig
        perm = _perm(values[0])
        if any(_perm(v) != perm or not self._movable(v) for v in values):
            return orig
        axis = perm[int(orig.attrs.axis) % len(perm)]
        self.count += 1
        record("sink permute_dims")
        return relax.op.permute_dims(relax.op.concat([v.args[0] for v in values], axis=axis),
                                     perm)

    def _shuffle(self, orig: relax.Call, m: dict, x: relax.Expr, perm: list[int]) -> relax.Expr:
        """The depth-to-space chain of the module docstring, or ``orig``."""
        first, middle = m[self.shuffle_in], m[self.shuffle_mid]
        six, four = _static(first), _static(orig)
        nhwc = _static(x)
        if (perm != [0, 3, 1, 2] or six is None or four is None or nhwc is None
                or len(six) != 6 or _perm(middle) != _SHUFFLE
                or not self._single(first) or not self._single(middle)):
            return orig
        n, c, r, r2, h, w = six
        if r != r2 or nhwc != [n, h, w, c * r * r] or four != [n, c, h * r, w * r]:
            return orig
        shuffled = relax.op.permute_dims(relax.op.reshape(x, [n, h, w, c, r, r]), _SHUFFLE)
        self.count += 1
        record("sink permute_dims")
        return relax.op.permute_dims(relax.op.reshape(shuffled, [n, h * r, w * r, c]), perm)

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
