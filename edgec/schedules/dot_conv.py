"""DotProductConv: the schedule of ``DotProductConv``'s int8 kernels (``conv2d_dot``), tensorized
with the board's dot-product instruction (``int8_dot``).

    for tile in parallel(n, y, x // RW, co // (L * RO)):     # cores
        acc[RW][RO][L] = 0                                    # registers
        for kh, kw, ci // 4:
            for i in unroll(RW):                              # output pixels along the row
                for j in unroll(RO):                          # blocks of L output channels
                    acc[i][j][:] = dot(a[.., x + i, 4 ci : 4 ci + 4], Wp[co + j, kh, kw, ci])
        out[tile] = epilogue(acc)                             # requantization, inlined

``RW * RO`` accumulator registers (at most 24 of the 32 vector registers AVX-512 and aarch64
have); the 4 activation bytes are broadcast once per pixel and each weight vector feeds RW
instructions. The epilogue (int32 offset, scale, rounding, zero point, clamp, cast) is
computed from the accumulator tile; producers of the kernel (the activation shift) stay at the
root. A kernel this rule cannot tensorize is refused (None), and the next rule takes it.
"""

from __future__ import annotations

from tvm import s_tir, tirx
from tvm.s_tir.dlight.analysis import normalize_prim_func
from tvm.s_tir.dlight.base import ScheduleRule
from tvm.target import Target

from edgec.passes.dot_product_conv import DOT_SCHEDULED
from edgec.passes.rewrite_log import record
from edgec.schedules.common import (divisor_at_most, extent_of, fold_epilogue,
                                    schedule_injective_block)
from edgec.schedules.target_info import vector_lanes

ACCUMULATORS = 24
MAX_PIXELS = 8
SERIAL_BELOW = 1 << 18  # multiply-adds below which one core runs the kernel


def _dot_block(sch: s_tir.Schedule):
    for block in sch.get_child_blocks(sch.get_sblock("root")):
        annotations = sch.get(block).annotations
        if "edgec_dot_isa" in annotations:
            return block, str(annotations["edgec_dot_isa"])
    return None, None


def _var_in(expr) -> tirx.Var | None:
    found = tirx.analysis.undefined_vars(expr)
    return found[0] if len(found) == 1 else None


def _axes(sch: s_tir.Schedule, block, info) -> dict | None:
    """The kernel's iterators by role: n, y, x, o (output NHWC) and ry, rx, rc (kernel h, w,
    input channels, read from the packed weights' indices); None where the extent is 1 (the
    loop was elided)."""
    stmt = sch.get(block)
    out = stmt.writes[0].region
    weights = next((r.region for r in stmt.reads if len(r.region) == 6), None)
    if len(out) != 4 or weights is None:
        return None
    roles = dict(zip(("n", "y", "x", "o"), (_var_in(r.min) for r in out)))
    roles.update(zip(("ry", "rx"), (_var_in(r.min) for r in weights[1:3])))
    # ci // 4 folds to 0 when there are only 4 input channels; ci % 4 still names it
    rc = _var_in(weights[3].min)
    roles["rc"] = rc if rc is not None else _var_in(weights[5].min)
    by_var = {it.var: it for it in info.iters}
    axes = {}
    for name, var in roles.items():
        match = [it for v, it in by_var.items() if var is not None and v.same_as(var)]
        axes[name] = match[0] if match else None
    return axes


class DotProductConv(ScheduleRule):
    def apply(self, func: tirx.PrimFunc, target: Target, _tunable: bool):
        if not isinstance(func, tirx.PrimFunc) or target.kind.name != "llvm":
            return None
        try:
            return self._apply(func, target)
        except (s_tir.ScheduleError, ValueError, KeyError):
            return None  # not tensorizable as written: the int32 rules take it

    def _apply(self, func: tirx.PrimFunc, target: Target):
        from edgec.schedules.int8_dot import ISAS, dot_isas

        sch = s_tir.Schedule(func)
        block, isa_name = _dot_block(sch)
        if block is None:
            return None
        isa = ISAS[isa_name]
        if isa not in dot_isas(target):
            return None  # compiled for another CPU: the instruction may not exist here
        infos = normalize_prim_func(sch)
        names = [sch.get(info.block_rv).name_hint for info in infos]
        index = names.index(sch.get(block).name_hint)
        producers, consumers = infos[:index], infos[index + 1:]
        if any(not info.is_injective() for info in producers + consumers):
            return None
        # A producer the kernel does not read feeds the epilogue (a residual): inline it there.
        reads = [region.source for region in sch.get(block).reads]
        for info in producers:
            if not any(sch.get(info.block_rv).writes[0].source.same_as(b) for b in reads):
                sch.compute_inline(info.block_rv)
                producers = [p for p in producers if p is not info]
        axes = _axes(sch, block, infos[index])
        if axes is None or axes["o"] is None or axes["rc"] is None:
            return None
        extents = {name: extent_of(it.dom) if it is not None else 1 for name, it in axes.items()}
        if any(e is None for e in extents.values()):
            return None
        width, channels = extents["x"], extents["o"]
        pixels = divisor_at_most(width, MAX_PIXELS)
        blocks = divisor_at_most(channels // isa.lanes, max(1, ACCUMULATORS // pixels))
        macs = 1
        for extent in extents.values():
            macs *= extent

        writeback = sch.cache_write(block, 0, "local")
        epilogue = fold_epilogue(sch, consumers, [extent_of(it.dom) for it in infos[index].iters
                                                  if it.kind == "S"])
        loop = {name: it.loop_rv for name, it in axes.items() if it is not None}
        outer, inner = [loop[name] for name in ("n", "y") if name in loop], []
        if "x" in loop:
            x_outer, x_inner = sch.split(loop["x"], [None, pixels])
            outer.append(x_outer)
            inner.append(x_inner)
        o_outer, o_lanes = sch.split(loop["o"], [None, isa.lanes])
        o_tile, o_inner = sch.split(o_outer, [None, blocks])
        outer.append(o_tile)
        inner.append(o_inner)
        rc_outer, rc_inner = sch.split(loop["rc"], [None, isa.group])
        reduce = [loop[name] for name in ("ry", "rx") if name in loop] + [rc_outer]
        sch.reorder(*outer, *reduce, *inner, o_lanes, rc_inner)
        tile = sch.fuse(*outer) if len(outer) > 1 else outer[0]
        sch.reverse_compute_at(writeback, tile, preserve_unit_loops=True)
        if macs >= SERIAL_BELOW:
            sch.parallel(tile)
        init = sch.decompose_reduction(block, reduce[0])
        sch.tensorize(o_lanes, isa.intrinsic)
        for unrolled in inner:
            sch.unroll(unrolled)
        init_loops = sch.get_loops(init)
        sch.vectorize(init_loops[-1])
        wb_loops = sch.get_loops(writeback)[1:]
        if wb_loops:
            _, lanes = sch.split(wb_loops[-1], [None, isa.lanes])
            sch.vectorize(lanes)
        for info in producers:
            schedule_injective_block(sch, info.block_rv, vector_lanes(target),
                                     parallel_min=2 if macs >= SERIAL_BELOW else 1 << 62)
        for info in epilogue:  # after a broadcast (squeeze-excitation): sized on its own
            schedule_injective_block(sch, info.block_rv, vector_lanes(target))
        record(f"{DOT_SCHEDULED} ({isa.name})")
        return sch
