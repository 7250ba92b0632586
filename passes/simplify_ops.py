"""SimplifyOps: remove operations that do nothing, collapse ones that repeat.

=================================================  ====================================
before                                             after
=================================================  ====================================
reshape(x, shape of x)                             x
reshape(reshape(x, s1), s2)                        reshape(x, s2)
astype(x, dtype of x)                              x
astype(astype(x, wider), original dtype of x)      x     (float16/32 -> float32/64 -> back)
permute_dims(x, identity axes)                     x
permute_dims(permute_dims(x, p), q)                permute_dims(x, p then q), or x
x * 1, x / 1, x + 0, x - 0  (scalar constants)     x     (only when the shape is unchanged)
=================================================  ====================================

Values are unchanged bit for bit. Runs at the end of the graph phase (with TVM's
EliminateCommonSubexpr and DeadCodeElimination) and again after layout conversion.
"""

from __future__ import annotations

import tvm
from tvm import relax
from tvm.relax.dpl import is_const, is_op, rewrite_call, wildcard

from edgec.passes.bindings import constant_array
from edgec.passes.rewrite_driver import rewrite_until_stable
from edgec.passes.rewrite_log import record

_ROUNDS = 4
_WIDENING = {("float16", "float32"), ("float16", "float64"), ("float32", "float64"),
             ("int8", "int32"), ("int8", "int64"), ("int16", "int32"), ("int32", "int64")}


def _shape(expr) -> list[int] | None:
    ty = expr.ty
    if not isinstance(ty, relax.TensorType) or ty.shape is None:
        return None
    try:
        return [int(d) for d in ty.shape.values]
    except TypeError:
        return None


def _axes(call) -> list[int] | None:
    axes = call.attrs.axes
    if axes is None:
        rank = len(_shape(call.args[0]) or [])
        return list(reversed(range(rank)))
    return [int(a) for a in axes]


def _rules():
    rules = []

    x = wildcard()
    reshape = is_op("relax.reshape")(x, wildcard())

    def same_shape_reshape(orig, m):
        inner = m[x]
        if isinstance(inner, relax.Call) and getattr(inner.op, "name", "") == "relax.reshape":
            return relax.op.reshape(inner.args[0], orig.args[1]), "reshape of reshape"
        if _shape(inner) is not None and _shape(inner) == _shape(orig):
            return inner, "no-op reshape"
        return None

    rules.append((reshape, same_shape_reshape))

    y = wildcard()
    astype = is_op("relax.astype")(y)

    def no_op_astype(orig, m):
        inner = m[y]
        target = str(orig.attrs.dtype)
        if str(inner.ty.dtype) == target:
            return inner, "no-op astype"
        if isinstance(inner, relax.Call) and getattr(inner.op, "name", "") == "relax.astype":
            source = inner.args[0]
            if str(source.ty.dtype) == target and (target, str(inner.ty.dtype)) in _WIDENING:
                return source, "widen-and-back astype"
        return None

    rules.append((astype, no_op_astype))

    z = wildcard()
    permute = is_op("relax.permute_dims")(z)

    def permutes(orig, m):
        inner = m[z]
        axes = _axes(orig)
        if axes is None:
            return None
        if axes == list(range(len(axes))):
            return inner, "identity permute_dims"
        if isinstance(inner, relax.Call) and getattr(inner.op, "name", "") == "relax.permute_dims":
            first = _axes(inner)
            combined = [first[a] for a in axes]
            if combined == list(range(len(combined))):
                return inner.args[0], "cancelled permute_dims pair"
            return relax.op.permute_dims(inner.args[0], combined), "merged permute_dims"
        return None

    rules.append((permute, permutes))

    w, c = wildcard(), is_const()
    identity = (is_op("relax.multiply")(w, c) | is_op("relax.multiply")(c, w)
                | is_op("relax.divide")(w, c) | is_op("relax.add")(w, c)
                | is_op("relax.add")(c, w) | is_op("relax.subtract")(w, c))

    def identity_arith(orig, m):
        value = constant_array(m[c])
        if value is None or value.size != 1 or _shape(m[w]) != _shape(orig):
            return None
        if str(m[w].ty.dtype) != str(orig.ty.dtype):
            return None
        neutral = 1.0 if orig.op.name in ("relax.multiply", "relax.divide") else 0.0
        if float(value.reshape(())) != neutral:
            return None
        return m[w], "identity arithmetic"

    rules.append((identity, identity_arith))
    return rules


class _Applier:
    def __init__(self, rewrite):
        self.rewrite = rewrite
        self.count = 0

    def __call__(self, orig, matched):
        result = self.rewrite(orig, matched)
        if result is None:
            return orig
        expr, rule = result
        self.count += 1
        record(f"simplify {rule}")
        return expr


@tvm.transform.module_pass(opt_level=0, name="SimplifyOps")
class SimplifyOps:
    """See the module docstring."""

    def transform_module(self, mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        rules = _rules()

        def one_round(func):
            total = 0
            for pattern, rewrite in rules:
                applier = _Applier(rewrite)
                func = rewrite_call(pattern, applier, func)
                total += applier.count
            return func, total

        return rewrite_until_stable(mod, one_round, _ROUNDS)
