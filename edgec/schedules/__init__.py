"""Default CPU schedules: rule-based, applied to every kernel that has no tuning record.

Rules are tried in order; the first that returns a schedule wins (dlight's ApplyDefaultSchedule):

1. ``TiledReduction``  conv2d/matmul/pooling + fused epilogue: tiled, register-blocked,
                       vectorized along the output's contiguous axis, parallel over cores;
2. ``Elementwise``     injective kernels: inlined, fused, vectorized, parallel;
3. dlight's CPU ``Reduction`` (softmax, norms) and ``GEMV`` rules.

A kernel no rule takes keeps TVM's naive loop nest (correct, slow).
"""

from __future__ import annotations

from tvm.s_tir import dlight

from edgec.schedules.elementwise import Elementwise
from edgec.schedules.tiled_reduction import TiledReduction


def default_rules() -> list:
    return [TiledReduction(), Elementwise(), dlight.cpu.Reduction(), dlight.cpu.GEMV()]


def default_schedule(func, target):
    """The first rule's schedule of one PrimFunc (a traced ``s_tir.Schedule``), or None."""
    for rule in default_rules():
        try:
            sch = rule.apply(func, target, False)
        except Exception:  # a rule that fails leaves the kernel to the next one
            sch = None
        if isinstance(sch, list):
            sch = sch[0] if sch else None
        if sch is not None:
            return sch
    return None
