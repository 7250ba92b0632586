"""``Clip`` with constant bounds becomes one ``R.clip`` (TVM emits two opaque TE kernels,
``maximum`` then ``minimum``, which no Relax pattern can see through; activation recognition
and quantization need to see the clip)."""

from __future__ import annotations

import numpy as np
from tvm import relax

from edgec.frontend.converters.common import scalar_constant


def convert_clip(bb: relax.BlockBuilder, inputs, attr: dict, opset: int):
    x = inputs[0]
    dtype = str(x.ty.dtype)
    if not dtype.startswith("float"):
        return None
    if opset < 11:
        low, high = attr.get("min", -np.inf), attr.get("max", np.inf)
    else:
        given = list(inputs) + [None, None]
        low_expr, high_expr = given[1], given[2]
        low = -np.inf if low_expr is None else scalar_constant(low_expr)
        high = np.inf if high_expr is None else scalar_constant(high_expr)
        if low is None or high is None or np.isnan(low) or np.isnan(high):
            return None  # computed or NaN bounds: TVM's converter handles those
    if low == -np.inf and high == np.inf:
        return x
    return relax.op.clip(x, float(low), float(high))
