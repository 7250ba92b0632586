"""ApplyTuningRecords: a kernel that a tuning database has records for takes the fastest
measured schedule, when the database proves it is not slower than the default schedule:

- only records measured for this target count (same triple, CPU model, features and cores;
  each record carries the target it was measured on). Records of another CPU, as given with
  ``--tuning-logs``, are ignored with a warning: a schedule's speed does not carry over between
  CPUs (on a Zen 4, Rocket Lake's records made PP-OCRv4 det 22 ms against 16.6 ms with default
  schedules);
- the database must also hold the measurement of the kernel's *current* default schedule
  (``edgec tune`` measures it first, and again whenever the default rules change). The best
  record is then at least as fast as the default, as measured; without that measurement the
  kernel keeps its default schedule (re-running ``edgec tune`` re-measures it).

A kernel whose best record is its default schedule counts as "default schedule", not "tuned
kernel". Kernels applied here are marked scheduled; DefaultSchedules schedules the rest. Runs
in the lower phase after FuseTIR, when the compile found records for the board
(``tuning_logs/<board>/``, or ``--tuning-logs DIR``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import tvm
from tvm import s_tir, tirx

from edgec.passes.default_schedules import is_scheduled
from edgec.passes.rewrite_log import record

logger = logging.getLogger(__name__)

TUNED = "tuned kernel"
DEFAULT = "default schedule"
FOREIGN = "tuning records of another CPU (ignored)"
STALE = "tuning records older than the default schedule (ignored)"


@tvm.transform.module_pass(opt_level=0, name="ApplyTuningRecords")
class ApplyTuningRecords:
    def __init__(self, directory: str):
        self.directory = Path(directory)

    def transform_module(self, mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        from edgec.tuning.database import open_database_for
        from edgec.tuning.records import describe_target, target_key

        target = tvm.target.Target.current(allow_none=True)
        if target is None:
            return mod
        key = target_key(target)
        kernels = {gvar: _workload(func) for gvar, func in mod.functions_items()
                   if isinstance(func, tirx.PrimFunc) and not is_scheduled(func)}
        database = open_database_for(self.directory, list(kernels.values()))
        counts = {TUNED: 0, DEFAULT: 0, FOREIGN: 0, STALE: 0}
        foreign_targets: set[str] = set()
        for gvar, kernel in kernels.items() if database is not None else ():
            func = mod[gvar]
            if not database.has_workload(kernel):
                continue
            records = database.get_top_k(database.commit_workload(kernel), 1 << 30)
            ours = [r for r in records if target_key(r.target) == key]
            foreign_targets.update(describe_target(r.target) for r in records
                                   if target_key(r.target) != key)
            if not ours:
                counts[FOREIGN] += bool(records)
                continue
            choice = _choose(func, ours, target)
            if choice is None:
                counts[STALE] += 1
                continue
            kind, scheduled = choice
            if func.attrs is None or "global_symbol" not in func.attrs:
                scheduled = scheduled.without_attr("global_symbol")
            mod[gvar] = scheduled.with_attr("tirx.is_scheduled", True)
            counts[kind] += 1
        if counts[FOREIGN]:
            logger.warning(
                "tuning records in %s were measured on another CPU (%s), not on this target "
                "(%s): not used for %d kernel(s), which get default schedules", self.directory,
                ", ".join(sorted(foreign_targets)), describe_target(target), counts[FOREIGN])
        if counts[STALE]:
            logger.info("%d kernel(s) have records but no measurement of their current default "
                        "schedule; they keep the default (run edgec tune to re-measure)",
                        counts[STALE])
        for kind, count in counts.items():
            record(kind, count)
        return mod


def _choose(func, records, target):
    """("tuned kernel" | "default schedule", scheduled PrimFunc) from ``records`` (fastest
    first, all measured for ``target``), or None when the current default schedule was never
    measured (its speed relative to the records is unknown)."""
    from edgec.schedules import default_schedule
    from edgec.tuning.records import measured, trace_key

    with target:
        default = default_schedule(func, target)
    best = records[0]
    if default is None:  # no rule schedules this kernel: any measured record beats naive code
        return (TUNED, _apply(func, best)) if measured(best) else None
    default_trace = trace_key(default.trace)
    if not any(measured(r) and trace_key(r.trace) == default_trace for r in records):
        return None
    if trace_key(best.trace) == default_trace:
        return DEFAULT, default.mod["main"]
    return TUNED, _apply(func, best)


def _workload(func) -> tvm.IRModule:
    """The kernel as MetaSchedule's task extraction keys it: alone, named ``main``."""
    return tvm.IRModule({"main": func.with_attr("global_symbol", "main")})


def _apply(func, record):
    sch = s_tir.Schedule(_workload(func))
    record.trace.apply_to_schedule(sch, remove_postproc=False)
    return sch.mod["main"]
