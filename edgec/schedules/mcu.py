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
   (``mcu_dot.py``: Helium or SMLAD), a float32 one on Helium cores to ``edgec_dot_f32``;
   for a padded convolution that means copying each output position's input window
   (``KH x KW x C`` values, a stack buffer) first, which is done only where every such
   convolution of the kernel then becomes a dot-product call;
4. weights stored in int8 (``FoldPrologues``) are decoded one output channel's row at a
   time into a stack buffer, with the output channels the outermost loop, so the decoding
   costs one conversion per weight, not one per multiply-add.

Loops keep TVM's order (output positions outside, reduction axes inside: for a channels-last
convolution the innermost loop walks input channels, contiguous in both operands). No
parallel or vector loops: a Cortex-M has one core, and gcc vectorizes for Helium itself.
A block this rule cannot move keeps its workspace (the C back end sizes and plans it).
"""

from __future__ import annotations

import tvm
from tvm import s_tir, tirx
from tvm.s_tir.dlight.analysis import normalize_prim_func
from tvm.s_tir.dlight.base import ScheduleRule
from tvm.target import Target

from edgec.schedules.mcu_dot import tensorize_dot


class SmallFootprint(ScheduleRule):
    def apply(self, func: tirx.PrimFunc, target: Target, _tunable: bool):
        if not isinstance(func, tirx.PrimFunc) or target.kind.name != "c":
            return None
        helium = bool(getattr(target, "features", None) is not None
                      and target.features.has_mve)
        # First with padding windows (see _window), kept only if every windowed reduction
        # became a dot-product call; else padding inlined everywhere.
        for windows in (True, False):
            sch = s_tir.Schedule(func)
            kept = _inline_injective(sch, keep_windows=windows)
            if windows and not kept:
                continue
            infos = normalize_prim_func(sch)
            if infos is None:
                if windows:
                    continue
                return sch
            calls = 0
            for info in infos:
                if info.is_reduction():
                    calls += _epilogue_per_element(sch, info, helium, windowed=windows)
            if windows and calls < len(kept):
                continue
            return sch
        return None


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


def _is_padding(sch: s_tir.Schedule, block) -> bool:
    """A block storing ``if_then_else(in bounds, x[...], pad value)``: a pad stage."""
    body = sch.get(block).body
    value = getattr(body, "value", None)
    return isinstance(value, tvm.ir.expr.Call) and \
        str(getattr(value.op, "name", "")).endswith("if_then_else")


def _inline_injective(sch: s_tir.Schedule, keep_windows: bool = False) -> list:
    """Inline every injective block that has a consumer; with ``keep_windows``, pad stages
    that feed a reduction stay (returned) for ``_window``."""
    kept = []
    changed = True
    while changed:
        changed = False
        for block in _leaf_blocks(sch):
            if not _is_spatial(sch, block) or not sch.get_consumers(block):
                continue
            if sch.get(block).name_hint == WEIGHT_DECODE:
                continue  # hoisted per output channel by _epilogue_per_element
            if keep_windows and _is_padding(sch, block) and any(
                    not _is_spatial(sch, c) for c in sch.get_consumers(block)):
                if not any(sch.get(block).same_as(sch.get(k)) for k in kept):
                    kept.append(block)
                continue
            try:
                sch.compute_inline(block)
                changed = True
            except s_tir.ScheduleError:
                continue
    return kept


def _epilogue_per_element(sch: s_tir.Schedule, info, helium: bool = False,
                          windowed: bool = False) -> int:
    """Schedule one reduction block; returns 1 if it became a dot-product call."""
    spatial = [it.loop_rv for it in info.iters if it.kind == "S"]
    reduce = [it.loop_rv for it in info.iters if it.kind == "R"]
    decode = _decode_producer(sch, info.block_rv)
    if not spatial or not reduce or any(it.kind not in "SR" for it in info.iters) or \
            (decode is not None and windowed):
        _inline_all(sch, [decode] if decode is not None else [])
        return 0
    channel = _channel_loop(sch, info, decode) if decode is not None else None
    if channel is not None:  # output channels outermost: each weight row decoded once
        spatial = [channel] + [loop for loop in spatial if not
                               sch.get(loop).same_as(sch.get(channel))]
    try:
        sch.reorder(*spatial, *reduce)
    except s_tir.ScheduleError:
        _inline_all(sch, [decode] if decode is not None else [])
        return 0
    if decode is not None:
        try:
            if channel is None:
                raise s_tir.ScheduleError("no output-channel loop")
            sch.compute_at(decode, channel, preserve_unit_loops=True)
        except s_tir.ScheduleError:
            _inline_all(sch, [decode])
    consumers = sch.get_consumers(info.block_rv)
    if len(consumers) == 1 and _is_spatial(sch, consumers[0]):
        try:
            sch.reverse_compute_at(consumers[0], spatial[-1], preserve_unit_loops=True)
        except s_tir.ScheduleError:
            pass
    if windowed and not _window(sch, info.block_rv, spatial):
        return 0
    try:
        sch.decompose_reduction(info.block_rv, reduce[0])
    except s_tir.ScheduleError:
        return 0
    return int(tensorize_dot(sch, info.block_rv, float_too=helium))


WEIGHT_DECODE = "weight_decode"  # passes/fold_prologues.py: int8 weights decoded to float


def _decode_producer(sch: s_tir.Schedule, block):
    found = [p for p in sch.get_producers(block) if sch.get(p).name_hint == WEIGHT_DECODE]
    return found[0] if len(found) == 1 else None


def _inline_all(sch: s_tir.Schedule, blocks: list) -> None:
    for block in blocks:
        try:
            sch.compute_inline(block)
        except s_tir.ScheduleError:
            pass


def _channel_loop(sch: s_tir.Schedule, info, decode):
    """The spatial loop that indexes the decoded weights: the output channel."""
    written = sch.get(decode).writes[0].source
    regions = [r for r in sch.get(info.block_rv).reads if r.source.same_as(written)]
    if len(regions) != 1:
        return None
    used = {v.name for dim in regions[0].region
            for v in tvm.tirx.analysis.undefined_vars(dim.min)}
    loops = [it.loop_rv for it in info.iters if it.kind == "S" and it.var.name in used]
    return loops[0] if len(loops) == 1 else None


def _window(sch: s_tir.Schedule, block, spatial: list) -> bool:
    """The padded input window of one output position (kernel height x width x channels),
    copied into a small buffer before the output channels are computed (on the stack up to
    1 KiB, else kernel scratch in the arena, sized at compile time): the reduction then
    reads a plain, contiguous buffer (a dot product) instead of testing bounds on every
    multiply-add, for a copy of ``KH*KW*C`` values per output position."""
    pads = [p for p in sch.get_producers(block) if _is_padding(sch, p)]
    if len(pads) != 1 or len(spatial) < 2:
        return False
    try:
        sch.compute_at(pads[0], spatial[-2], preserve_unit_loops=True)
    except s_tir.ScheduleError:
        return False
    return True
