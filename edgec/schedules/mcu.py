"""SmallFootprint: the default schedule for microcontroller kernels (the ``c`` target), where
RAM, not parallelism or SIMD width, is what runs out.

A kernel's intermediate buffers become ``TVMBackendAllocWorkspace`` calls, which the C back end
must reserve in the arena for the kernel's whole call; this rule removes them:

1. every injective block that is not the kernel's output is inlined into its consumers
   (padding, layout changes, casts, the bias add of a conv + bias + ReLU kernel): the consumer
   recomputes the value where it reads it, padding becomes a bounds test;
2. a reduction's consumer (the epilogue left after step 1: ReLU, requantization) is computed
   under the reduction's spatial loops, one output element at a time, so the reduction's own
   output shrinks to a scalar on the stack; the accumulator's initialization is hoisted out of
   the reduction loops;
3. an int8 dot product over a contiguous innermost axis becomes a call to ``edgec_dot_s8``
   (``mcu_dot.py``: Helium or SMLAD), a float32 one on Helium cores to ``edgec_dot_f32``.

Loops keep TVM's order (output positions outside, reduction axes inside: for a channels-last
convolution the innermost loop walks input channels, contiguous in both operands). No
parallel or vector loops: a Cortex-M has one core, and gcc vectorizes for Helium itself.
A block this rule cannot move keeps its workspace (the C back end sizes and plans it).
"""

from __future__ import annotations

from tvm import s_tir, tirx
from tvm.s_tir.dlight.analysis import normalize_prim_func
from tvm.s_tir.dlight.base import ScheduleRule
from tvm.target import Target

from edgec.schedules.mcu_dot import tensorize_dot


class SmallFootprint(ScheduleRule):
    def apply(self, func: tirx.PrimFunc, target: Target, _tunable: bool):
        if not isinstance(func, tirx.PrimFunc) or target.kind.name != "c":
            return None
        sch = s_tir.Schedule(func)
        _inline_injective(sch)
        infos = normalize_prim_func(sch)
        if infos is None:
            return sch
        helium = bool(getattr(target, "features", None) is not None
                      and target.features.has_mve)
        for info in infos:
            if info.is_reduction():
                _epilogue_per_element(sch, info, helium)
        return sch


def _leaf_blocks(sch: s_tir.Schedule) -> list:
    blocks, stack = [], list(sch.get_child_blocks(sch.get_sblock("root")))
    while stack:
        block = stack.pop(0)
        children = sch.get_child_blocks(block)
        if children:
            stack = list(children) + stack
        else:
            blocks.append(block)
    return blocks


def _is_spatial(sch: s_tir.Schedule, block) -> bool:
    return all(int(iv.iter_type) == tirx.IterVar.DataPar for iv in sch.get(block).iter_vars)


def _inline_injective(sch: s_tir.Schedule) -> None:
    changed = True
    while changed:
        changed = False
        for block in _leaf_blocks(sch):
            if not _is_spatial(sch, block) or not sch.get_consumers(block):
                continue
            try:
                sch.compute_inline(block)
                changed = True
            except s_tir.ScheduleError:
                continue


def _epilogue_per_element(sch: s_tir.Schedule, info, helium: bool = False) -> None:
    spatial = [it.loop_rv for it in info.iters if it.kind == "S"]
    reduce = [it.loop_rv for it in info.iters if it.kind == "R"]
    if not spatial or not reduce or any(it.kind not in "SR" for it in info.iters):
        return
    try:
        sch.reorder(*spatial, *reduce)
    except s_tir.ScheduleError:
        return
    consumers = sch.get_consumers(info.block_rv)
    if len(consumers) == 1 and _is_spatial(sch, consumers[0]):
        try:
            sch.reverse_compute_at(consumers[0], spatial[-1], preserve_unit_loops=True)
        except s_tir.ScheduleError:
            pass
    try:
        sch.decompose_reduction(info.block_rv, reduce[0])
    except s_tir.ScheduleError:
        return
    tensorize_dot(sch, info.block_rv, float_too=helium)
