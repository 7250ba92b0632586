"""DefaultSchedules: give every kernel without a schedule edgec's rule-based CPU schedule
(``edgec/schedules``): parallel over cores, vectorized to the target's SIMD width,
register-blocked (``llvm`` targets), or the microcontroller rule that keeps kernels free of
workspace (``c``). Kernels already scheduled (e.g. from a tuning database, which marks them
``tirx.is_scheduled``) are left alone. Runs in the lower phase after FuseTIR.

A rule that fails on a kernel never fails the compile: the next rule takes the kernel, and
when none does it keeps TVM's unscheduled loop nest. The compile report counts both.
"""

from __future__ import annotations

import logging

import tvm
from tvm import tirx

from edgec.passes.rewrite_log import record

logger = logging.getLogger(__name__)

# rewrite-log keys, read by the compile report
SCHEDULED = "default schedule"
NAIVE = "naive kernel (no rule applies)"
FELL_BACK = "kernel fell back (a schedule rule failed on it)"


@tvm.transform.module_pass(opt_level=0, name="DefaultSchedules")
class DefaultSchedules:
    def __init__(self, rules: list | None = None):
        self.rules = rules  # None: edgec's default rules

    def transform_module(self, mod: tvm.IRModule, ctx) -> tvm.IRModule:
        from edgec.schedules import choose_schedule, rules_for

        target = tvm.target.Target.current(allow_none=True)
        rules = None if target is None else (self.rules or rules_for(target))
        if not rules:
            return mod
        unscheduled = [(g, f) for g, f in mod.functions_items()
                       if isinstance(f, tirx.PrimFunc) and not is_scheduled(f)]
        scheduled = fell_back = 0
        for gvar, func in unscheduled:
            choice = choose_schedule(func, target, rules)
            if choice.failures:
                fell_back += 1
                logger.info("kernel %s: %s; %s", gvar.name_hint, "; ".join(choice.failures),
                            f"scheduled by {choice.rule}" if choice.rule
                            else "left unscheduled")
            if choice.schedule is not None:
                mod[gvar] = choice.schedule.mod["main"].with_attr("tirx.is_scheduled", True)
                scheduled += 1
        record(SCHEDULED, scheduled)
        record(NAIVE, len(unscheduled) - scheduled)
        record(FELL_BACK, fell_back)
        return mod


def is_scheduled(func) -> bool:
    """Whether a PrimFunc already has a schedule (``tirx.is_scheduled``)."""
    return bool(func.attrs is not None and func.attrs.get("tirx.is_scheduled", False))
