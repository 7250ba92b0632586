"""TiledReduction: the default CPU schedule for a kernel built around one reduction (conv2d,
depthwise and 1x1 included, conv2d_transpose, matmul/dense, pooling) with its fused epilogue.

    for tile in parallel(outer spatial tiles):          # cores
        acc[r][v] = 0                                   # registers (cache_write "local")
        for reduction axes (input channel, kernel h, w):
            for i in unroll(r):                         # register block, e.g. output channels
                for j in vectorize(v):                  # SIMD lanes along the output's last axis
                    acc[i][j] += a[...] * b[...]
        out[tile] = epilogue(acc)                       # bias, activation, residual: inlined

``v`` is the SIMD width in elements (AVX-512 16, AVX2 8, NEON 4) or the largest divisor of the
vector axis below it; ``r`` (up to 8) blocks a second spatial axis so each loaded vector feeds r
FMAs. Injective producers (padding) stay at the root, parallel and vectorized. Refuses (None)
kernels with zero or several reductions, or an epilogue that is not elementwise on the result.
"""

from __future__ import annotations

import math

from tvm import s_tir, tirx
from tvm.s_tir.dlight.analysis import normalize_prim_func
from tvm.s_tir.dlight.base import ScheduleRule
from tvm.target import Target

from edgec.schedules.common import (divisor_at_most, extent_of, fold_epilogue,
                                    schedule_injective_block, var_of_index)
from edgec.schedules.target_info import vector_lanes

MAX_REGISTER_BLOCK = 8
UNROLL_STEP = 64
# Below this many multiply-adds a kernel runs on one core: waking the thread pool costs more
# than it saves (a few microseconds per parallel loop).
SERIAL_BELOW = 1 << 18


class TiledReduction(ScheduleRule):
    def apply(self, func: tirx.PrimFunc, target: Target, _tunable: bool):
        if not isinstance(func, tirx.PrimFunc) or target.kind.name != "llvm":
            return None
        try:
            return self._apply(func, target)
        except Exception:  # noqa: BLE001 - any failure means "not this rule", never a crash
            return None  # a shape this rule does not handle: the next rule gets it

    def _apply(self, func: tirx.PrimFunc, target: Target):
        sch = s_tir.Schedule(func)
        infos = normalize_prim_func(sch)
        if not infos:
            return None
        reductions = [i for i, info in enumerate(infos) if info.is_reduction()]
        if len(reductions) != 1:
            return None
        index = reductions[0]
        main = infos[index]
        if any(it.dom is None for it in main.iters):
            return None
        producers, consumers = infos[:index], infos[index + 1:]
        if any(not info.is_injective() for info in producers + consumers):
            return None
        # A producer the reduction does not read feeds only the epilogue (the other operand of
        # a residual add, dequantized): inline it there, where the epilogue reads it.
        reads = [region.source for region in sch.get(main.block_rv).reads]
        side = [info for info in producers
                if not any(sch.get(info.block_rv).writes[0].source.same_as(buffer)
                           for buffer in reads)]
        try:
            for info in side:
                sch.compute_inline(info.block_rv)
        except s_tir.ScheduleError:
            return None
        producers = [info for info in producers if info not in side]
        lanes = vector_lanes(target)

        block = main.block_rv
        _deinterleave_strided_inputs(sch, block, producers)
        spatial = [it for it in main.iters if it.kind == "S"]
        reduce = [it for it in main.iters if it.kind == "R"]
        if not spatial or not reduce or any(it.kind not in "SR" for it in main.iters):
            return None
        extents = [extent_of(it.dom) for it in main.iters]
        if any(e is None for e in extents):
            return None  # symbolic shapes: leave to the fallback

        # Epilogue: elementwise consumers are folded into the last one (compute_inline; a value
        # two of them read is recomputed, which is cheap), and that one is computed from the
        # accumulator tile (reverse_compute_inline into the write-back). What follows a
        # broadcast to a larger tensor (squeeze-excitation) is one root-level loop nest.
        writeback = sch.cache_write(block, 0, "local")
        try:
            root_consumers = fold_epilogue(sch, consumers,
                                           [extent_of(it.dom) for it in spatial])
        except s_tir.ScheduleError:
            return None
        packed = _channel_vector_axis(sch.get(block), spatial)
        if packed is not None:
            return _schedule_channel_vectors(sch, block, writeback, main, spatial, packed,
                                             extents, producers, root_consumers, target)
        write_region = sch.get(block).writes[0]
        last_var = var_of_index(write_region.region[-1].min)
        vec_axis = next((i for i, it in enumerate(spatial) if it.var.same_as(last_var)), None)
        if vec_axis is None:
            vec_axis = len(spatial) - 1
        vec_extent = extent_of(spatial[vec_axis].dom)
        vec = divisor_at_most(vec_extent, lanes)
        if vec < 4 and vec_extent > lanes:
            vec = lanes  # no good divisor: a masked tail beats scalar code

        # Register block: the largest other spatial axis (output channels for conv2d).
        candidates = [(extent_of(it.dom), i) for i, it in enumerate(spatial)
                      if i != vec_axis and extent_of(it.dom) > 1]
        rb_axis = max(candidates)[1] if candidates else None
        rb = divisor_at_most(extent_of(spatial[rb_axis].dom), MAX_REGISTER_BLOCK) \
            if rb_axis is not None else 1

        loops = sch.get_loops(block)
        s_loops = [loops[i] for i, it in enumerate(main.iters) if it.kind == "S"]
        r_loops = [loops[i] for i, it in enumerate(main.iters) if it.kind == "R"]
        vec_outer, vec_inner = sch.split(s_loops[vec_axis], factors=[None, vec])
        outer = []
        rb_inner = None
        for i, loop in enumerate(s_loops):
            if i == vec_axis:
                continue
            if i == rb_axis and rb > 1:
                rb_outer, rb_inner = sch.split(loop, factors=[None, rb])
                outer.append(rb_outer)
            else:
                outer.append(loop)
        outer.append(vec_outer)
        _finish_tiles(sch, block, writeback, outer, r_loops,
                      [rb_inner] if rb_inner is not None else [], vec_inner,
                      math.prod(extents) >= SERIAL_BELOW, producers, root_consumers, lanes,
                      unroll_pragma=True)
        return sch


def _finish_tiles(sch, block, writeback, outer, r_loops, unrolled, vector, parallel,
                  producers, epilogue, lanes, unroll_pragma=False) -> None:
    """The steps both tilings end with: ``outer`` loops fused into the tile loop (parallel
    when ``parallel``), the reduction inside, then ``unrolled`` register-block loops and the
    ``vector`` loop; the accumulator's initialization and the write-back (with the inlined
    epilogue) vectorized; the root-level injective blocks scheduled: the ``producers`` on one
    core when the kernel is, an ``epilogue`` left at the root (a broadcast) by its own size. ``unroll_pragma`` asks
    LLVM to unroll the tile body (the steps' order is the schedule's trace, which the tuning
    database compares, so it stays as it was)."""
    sch.reorder(*outer, *r_loops, *unrolled, vector)
    tile = sch.fuse(*outer) if len(outer) > 1 else outer[0]
    sch.reverse_compute_at(writeback, tile, preserve_unit_loops=True)
    if parallel:  # needs the reduction block whole, so before decompose_reduction
        sch.parallel(tile)
    for loop in unrolled:
        sch.unroll(loop)
    sch.vectorize(vector)
    init = sch.decompose_reduction(block, r_loops[0])
    init_loops = sch.get_loops(init)
    if len(init_loops) > 1:
        sch.vectorize(init_loops[-1])
    if unroll_pragma:
        sch.annotate(tile, "pragma_auto_unroll_max_step", UNROLL_STEP)
        sch.annotate(tile, "pragma_unroll_explicit", 1)
    wb_loops = sch.get_loops(writeback)[1:]
    if wb_loops:
        sch.vectorize(wb_loops[-1])
    for info in producers:
        schedule_injective_block(sch, info.block_rv, lanes,
                                 parallel_min=2 if parallel else 1 << 62)
    for info in epilogue:
        schedule_injective_block(sch, info.block_rv, lanes)


def _channel_vector_axis(stmt, spatial) -> tuple[int, int] | None:
    """(spatial axis, lanes) when the block reads packed weights ``w[..., o // L, ..., o % L]``
    (``PackConvWeights``): their last index runs along that output axis, L at a time."""
    for region in stmt.reads:
        index = region.region[-1].min
        if not isinstance(index, tirx.FloorMod) or not isinstance(index.b, tirx.IntImm):
            continue
        lanes = int(index.b)
        for axis, it in enumerate(spatial):
            extent = extent_of(it.dom)
            if index.a.same_as(it.var) and extent is not None and extent % lanes == 0 \
                    and int(region.region[-1].extent) == 1:
                return axis, lanes
    return None


# Accumulators (SIMD registers) of the channel-vector kernel: AVX-512 and NEON have 32
# registers, AVX2 16; the rest hold the weight vector and broadcast inputs.
def _max_accumulators(target: Target) -> int:
    return 16 if vector_lanes(target) >= 16 or "aarch64" in str(target.attrs.get(
        "mtriple", "")) else 12


# One thread runs the channel-vector kernel below this many multiply-adds (~10 us at its pace).
CHANNEL_VECTOR_SERIAL_BELOW = 1 << 20


def _schedule_channel_vectors(sch, block, writeback, main, spatial, packed, extents,
                              producers, epilogue, target):
    """Conv2d over packed weights (``PackConvWeights``): SIMD lanes along output channels
    (one weight vector load per tap), a block of output pixels in registers (each input pixel
    broadcast once per tap), the accumulators stored channel-innermost in registers.

        for tile in parallel(n, channel blocks, pixel blocks):
            acc[ph][pw][L] = 0
            for ci, kh, kw:
                for i in unroll(ph): for j in unroll(pw):
                    acc[i][j][:] += in[ci, y+i+kh, x+j+kw] * wp[o // L, ci, kh, kw, :]
            out[tile] = epilogue(acc)
    """
    axis, lanes = packed
    # The accumulators, channel-innermost: o -> (o // L, ..., o % L).
    rank = len(sch.get(block).writes[0].region)
    position = next(i for i, r in enumerate(sch.get(block).writes[0].region)
                    if r.min.same_as(spatial[axis].var))

    def channel_last(*i):
        return (*i[:position], i[position] // lanes, *i[position + 1:], i[position] % lanes)

    sch.transform_layout(block, ("write", 0), tirx.IndexMap.from_func(
        channel_last, ndim=rank, index_dtype=str(spatial[axis].var.ty)))
    loops = sch.get_loops(block)
    s_loops = [loops[i] for i, it in enumerate(main.iters) if it.kind == "S"]
    r_loops = [loops[i] for i, it in enumerate(main.iters) if it.kind == "R"]
    # Register block over the pixel axes (the last two other spatial axes: h, w).
    budget = _max_accumulators(target)
    pixel_axes = [i for i, it in enumerate(spatial) if i != axis][-2:]
    blocks = {}
    for i in reversed(pixel_axes):
        blocks[i] = divisor_at_most(extent_of(spatial[i].dom), budget)
        budget //= blocks[i]
    outer, inner = [], []
    for i, loop in enumerate(s_loops):
        if i == axis:
            o_outer, o_inner = sch.split(loop, factors=[None, lanes])
            outer.append(o_outer)
        elif blocks.get(i, 1) > 1:
            p_outer, p_inner = sch.split(loop, factors=[None, blocks[i]])
            outer.append(p_outer)
            inner.append(p_inner)
        else:
            outer.append(loop)
    _finish_tiles(sch, block, writeback, outer, r_loops, inner, o_inner,
                  math.prod(extents) >= CHANNEL_VECTOR_SERIAL_BELOW, producers, epilogue,
                  vector_lanes(target))
    return sch


def _deinterleave_strided_inputs(sch: s_tir.Schedule, block, producers) -> None:
    """Stride-s convolutions read their (padded) input every s-th element along the vector
    axis: gathers in the innermost loop, once per kernel tap. The producer (the padding) is
    rewritten to store the input de-interleaved, ``[..., w % s, w // s]``, so that the
    convolution's reads become contiguous vectors; the strided read moves to the producer,
    once per element."""
    from tvm.sym import detect_linear_equation
    from tvm.tirx import IndexMap

    stmt = sch.get(block)
    out_var = var_of_index(stmt.writes[0].region[-1].min)
    if out_var is None:
        return
    for region in stmt.reads:
        coeffs = detect_linear_equation(region.region[-1].min, [out_var])
        if len(coeffs) != 2 or not isinstance(coeffs[0], tirx.IntImm):
            continue
        stride = int(coeffs[0])
        width = extent_of(region.source.shape[-1])
        if stride < 2 or width is None or width % stride:
            continue
        producer = next((info.block_rv for info in producers
                         if sch.get(info.block_rv).writes[0].source.same_as(region.source)), None)
        if producer is None:
            continue
        split_last = _split_last(stride)

        rank = len(region.source.shape)
        dtype = str(region.source.shape[-1].ty)
        sch.transform_layout(producer, ("write", 0),
                             IndexMap.from_func(split_last, ndim=rank, index_dtype=dtype))
        iters = sch.get(producer).iter_vars
        sch.transform_block_layout(producer, IndexMap.from_func(
            split_last, ndim=len(iters), index_dtype=str(iters[0].var.ty)))


def _split_last(stride: int):
    return lambda *i: (*i[:-1], i[-1] % stride, i[-1] // stride)
