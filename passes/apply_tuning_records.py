"""ApplyTuningRecords: kernels that a tuning database has a record for take the best measured
schedule (MetaSchedule's ApplyDatabase); they are then marked scheduled, and DefaultSchedules
schedules only the rest. A kernel whose best record is its default schedule (measured first by
``edgec tune``; nothing searched beat it) counts as "default schedule", not "tuned kernel". Runs in the lower phase after FuseTIR, when the compile found records
for the board (``tuning_logs/<board>/``, or ``--tuning-logs DIR``).
"""

from __future__ import annotations

from pathlib import Path

import tvm
import tvm_ffi
from tvm import relax, tirx

from edgec.passes.default_schedules import is_scheduled
from edgec.passes.rewrite_log import record


@tvm.transform.module_pass(opt_level=0, name="ApplyTuningRecords")
class ApplyTuningRecords:
    def __init__(self, directory: str):
        self.directory = Path(directory)

    def transform_module(self, mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        from edgec.tuning.database import open_database

        kernels = [g for g, f in mod.functions_items()
                   if isinstance(f, tirx.PrimFunc) and not is_scheduled(f)]
        before = {g: mod[g] for g in kernels}
        database = open_database(self.directory, create=False)
        with database:
            mod = relax.transform.MetaScheduleApplyDatabase(enable_warning=False)(mod)
        from_records = [g for g in kernels if is_scheduled(mod[g])]
        target = tvm.target.Target.current(allow_none=True)
        default_best = sum(1 for g in from_records if _is_default(before[g], mod[g], target))
        record("tuned kernel", len(from_records) - default_best)
        record("default schedule", default_best)  # measured, and nothing found beat it
        return mod


def _is_default(original, applied, target) -> bool:
    """Whether the record applied is edgec's default schedule (tuning measures it first; when
    no searched schedule beats it, it is the best record)."""
    from edgec.schedules import default_schedule

    if target is None:
        return False
    with target:
        sch = default_schedule(original, target)
    return sch is not None and tvm_ffi.structural_equal(sch.mod["main"].body, applied.body,
                                                        map_free_vars=True)
