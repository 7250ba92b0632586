"""ApplyTuningRecords: kernels that a tuning database has a record for take the best measured
schedule (MetaSchedule's ApplyDatabase); they are then marked scheduled, and DefaultSchedules
schedules only the rest. Runs in the lower phase after FuseTIR, when the compile found records
for the board (``tuning_logs/<board>/``, or ``--tuning-logs DIR``).
"""

from __future__ import annotations

from pathlib import Path

import tvm
from tvm import relax, tirx

from edgec.passes.rewrite_log import record


def _scheduled(func) -> bool:
    return bool(func.attrs is not None and func.attrs.get("tirx.is_scheduled", False))


@tvm.transform.module_pass(opt_level=0, name="ApplyTuningRecords")
class ApplyTuningRecords:
    def __init__(self, directory: str):
        self.directory = Path(directory)

    def transform_module(self, mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        from edgec.tuning.database import open_database

        kernels = [g for g, f in mod.functions_items()
                   if isinstance(f, tirx.PrimFunc) and not _scheduled(f)]
        database = open_database(self.directory, create=False)
        with database:
            mod = relax.transform.MetaScheduleApplyDatabase(enable_warning=False)(mod)
        tuned = sum(1 for g in kernels if _scheduled(mod[g]))
        record("tuned kernel", tuned)
        return mod
