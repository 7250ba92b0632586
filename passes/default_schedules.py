"""DefaultSchedules: give every kernel without a schedule edgec's rule-based CPU schedule
(``edgec/schedules``): parallel over cores, vectorized to the target's SIMD width,
register-blocked. Kernels already scheduled (e.g. from a tuning database, which marks them
``tirx.is_scheduled``) are left alone. Runs in the lower phase after FuseTIR, for llvm targets.
"""

from __future__ import annotations

import tvm
from tvm import tirx
from tvm.s_tir import dlight

from edgec.passes.rewrite_log import record


@tvm.transform.module_pass(opt_level=0, name="DefaultSchedules")
class DefaultSchedules:
    def transform_module(self, mod: tvm.IRModule, ctx) -> tvm.IRModule:
        from edgec.schedules import default_rules

        target = tvm.target.Target.current(allow_none=True)
        if target is None or target.kind.name != "llvm":
            return mod
        kernels = [g for g, f in mod.functions_items() if isinstance(f, tirx.PrimFunc)]
        unscheduled = [g for g in kernels if not is_scheduled(mod[g])]
        mod = dlight.ApplyDefaultSchedule(*default_rules())(mod)
        scheduled = sum(1 for g in unscheduled if is_scheduled(mod[g]))
        record("default schedule", scheduled)
        record("naive kernel (no rule applies)", len(unscheduled) - scheduled)
        return mod


def is_scheduled(func) -> bool:
    """Whether a PrimFunc already has a schedule (``tirx.is_scheduled``)."""
    return bool(func.attrs is not None and func.attrs.get("tirx.is_scheduled", False))
