"""Legalizations of ``R.max`` / ``R.min`` (ReduceMax / ReduceMin) whose identity is infinity.

TVM's legalization starts a float max-reduction from the lowest finite value (-3.4e38 for
float32) and a min-reduction from the largest, so the max of a row that is all ``-inf`` comes
out as -3.4e38, not ``-inf``. That is a wrong answer wherever a model tests for it: ONNX's
Attention (opset 23/24, expanded) finds fully masked rows with ``ReduceMax(bias) == -inf`` and
zeroes them; with TVM's identity those rows became NaN. Here the identity is ``-inf`` (max) and
``+inf`` (min) for floats, and TVM's for integers; the result is otherwise the same kernel (a
``te`` reduction over the given axes, ``keepdims`` honoured).

Used through ``LegalizeOps(customize_legalize_map=REDUCTION_LEGALIZATIONS)`` in the lower phase.
"""

from __future__ import annotations

import tvm
from tvm import relax, te


def _identity(dtype: str, largest: bool):
    if dtype.startswith(("float", "bfloat")):
        return tvm.tirx.const(float("inf") if largest else float("-inf"), dtype)
    return te.max_value(dtype) if largest else te.min_value(dtype)


def _reduce(bb: relax.BlockBuilder, call: relax.Call, is_max: bool) -> relax.Expr:
    data = call.args[0]
    rank = data.ty.ndim
    axis = call.attrs.axis
    axes = sorted({int(a) % rank for a in axis}) if axis is not None else list(range(rank))
    keepdims = bool(call.attrs.keepdims)
    name = "max" if is_max else "min"

    def compute(x):
        combine = (lambda a, b: te.max(a, b)) if is_max else (lambda a, b: te.min(a, b))
        reducer = te.comm_reducer(combine, lambda dtype: _identity(dtype, largest=not is_max),
                                  name=name)
        raxes = {a: te.reduce_axis((0, x.shape[a]), name=f"k{a}") for a in axes}
        kept = [a for a in range(rank) if a not in raxes]
        shape = [1 if a in raxes else x.shape[a] for a in range(rank)] if keepdims else \
            [x.shape[a] for a in kept]

        def body(*index):
            index = list(index)
            full = []
            for a in range(rank):
                if a in raxes:
                    full.append(raxes[a])
                    if keepdims:
                        index.pop(0)
                else:
                    full.append(index.pop(0))
            return reducer(x(*full), axis=list(raxes.values()))

        return te.compute(shape, body, name=f"{name}_red")

    return bb.call_te(compute, data, primfunc_name_hint=name)


REDUCTION_LEGALIZATIONS = {
    "relax.max": lambda bb, call: _reduce(bb, call, is_max=True),
    "relax.min": lambda bb, call: _reduce(bb, call, is_max=False),
}
