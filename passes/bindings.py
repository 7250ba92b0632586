"""Facts about a Relax function's bindings that rewrites need before they may fuse values:
which variable a value is bound to, how many times each variable is used, and the NumPy value
of a constant.

Relax expressions overload ``==``, so objects are keyed by their handle (``__chandle__``).
"""

from __future__ import annotations

import collections

import numpy as np
import tvm
from tvm import relax


def key(obj) -> int:
    return obj.__chandle__()


class Bindings:
    """Binding facts of one function, computed once per rewrite round."""

    def __init__(self, func: relax.Function):
        self.var_of: dict[int, relax.Var] = {}
        self.value_of: dict[int, relax.Expr] = {}
        self.uses: collections.Counter = collections.Counter()
        for var, value in relax.analysis.get_var2val(func).items():
            self.var_of[key(value)] = var
            self.value_of[key(var)] = value

        self._count(func.body)

    def _count(self, expr) -> None:
        """Count every occurrence of every variable (a node used twice counts twice)."""
        if isinstance(expr, relax.Var):
            self.uses[key(expr)] += 1
        elif isinstance(expr, relax.Call):
            for arg in expr.args:
                self._count(arg)
        elif isinstance(expr, relax.Tuple):
            for field in expr.fields:
                self._count(field)
        elif isinstance(expr, relax.TupleGetItem):
            self._count(expr.tuple_value)
        elif isinstance(expr, relax.SeqExpr):
            for block in expr.blocks:
                for binding in block.bindings:
                    self._count(binding.value)
            self._count(expr.body)
        elif isinstance(expr, relax.If):
            self._count(expr.cond)
            self._count(expr.true_branch)
            self._count(expr.false_branch)

    def use_count(self, value: relax.Expr) -> int:
        """Uses of the variable ``value`` is bound to (0 for a value bound to no variable)."""
        var = self.var_of.get(key(value))
        if var is None:
            return 0
        return self.uses[key(var)]

    def single_use(self, value: relax.Expr) -> bool:
        return self.use_count(value) == 1


def constant_array(expr) -> np.ndarray | None:
    """The value of a Relax tensor constant, or None."""
    if isinstance(expr, tvm.ir.expr.GenericConst) and hasattr(expr.value, "numpy"):
        return expr.value.numpy()
    return None


def make_constant(array: np.ndarray, dtype: str) -> relax.Expr:
    return relax.const(np.ascontiguousarray(array.astype(dtype)), dtype)


def ints(values) -> list[int]:
    """Integer attributes (strides, padding, ...) as Python ints."""
    return [int(v) for v in values]


def channel_vector(const: np.ndarray, rank: int, axis: int,
                   channels: int) -> np.ndarray | None:
    """``const`` as a float64 vector of ``channels`` values when, broadcast against a tensor of
    ``rank`` dimensions, it varies along ``axis`` only (a per-channel bias or scale)."""
    if const.ndim > rank:
        return None
    padded = (1,) * (rank - const.ndim) + tuple(const.shape)
    if any(size != 1 and i != axis for i, size in enumerate(padded)):
        return None
    if padded[axis] not in (1, channels):
        return None
    return np.broadcast_to(const.reshape(padded[axis]), (channels,)).astype(np.float64)


def static_shape(expr: relax.Expr) -> list[int] | None:
    """A tensor expression's shape as ints, or None when unknown or symbolic."""
    shape = getattr(expr.ty, "shape", None)
    if shape is None or not hasattr(shape, "values"):
        return None
    try:
        return ints(shape.values)
    except TypeError:
        return None


def constant_matmul_weight(call) -> np.ndarray | None:
    """``W`` of ``matmul(x, W)`` with ``x`` float32 of rank >= 2 and a static shape and ``W`` a
    constant float32 ``[K, N]`` (ONNX MatMul and Gemm once constants are folded), else None."""
    if not isinstance(call.op, tvm.ir.Op) or call.op.name != "relax.matmul":
        return None
    x, weight = call.args
    w = constant_array(weight)
    shape = static_shape(x)
    if (w is None or w.ndim != 2 or w.dtype != np.float32 or shape is None or len(shape) < 2
            or str(x.ty.dtype) != "float32" or str(call.ty.dtype) != "float32"):
        return None
    return w
