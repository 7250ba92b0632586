"""Elementwise: the default CPU schedule for kernels of injective operators only (activations,
adds, concatenation, resize, transposes): producers inlined into the last block, whose loops are
fused, split into SIMD-wide vectors and run in parallel over the cores."""

from __future__ import annotations

from tvm import s_tir, tirx
from tvm.s_tir.dlight.analysis import normalize_prim_func
from tvm.s_tir.dlight.base import ScheduleRule
from tvm.target import Target

from edgec.schedules.common import schedule_injective_block
from edgec.schedules.target_info import vector_lanes


class Elementwise(ScheduleRule):
    def apply(self, func: tirx.PrimFunc, target: Target, _tunable: bool):
        if not isinstance(func, tirx.PrimFunc) or target.kind.name != "llvm":
            return None
        try:
            sch = s_tir.Schedule(func)
            infos = normalize_prim_func(sch)
            if not infos or any(not info.is_injective() for info in infos):
                return None
            lanes = vector_lanes(target)
            remaining = []
            for info in infos[:-1]:
                try:
                    sch.compute_inline(info.block_rv)
                except s_tir.ScheduleError:
                    remaining.append(info)
            for info in remaining + [infos[-1]]:
                schedule_injective_block(sch, info.block_rv, lanes)
            return sch
        except Exception:  # noqa: BLE001 - any failure means "not this rule", never a crash
            return None
