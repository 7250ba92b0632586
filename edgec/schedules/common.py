"""Small analyses and steps the default schedule rules share."""

from __future__ import annotations

from tvm import s_tir, tirx


def extent_of(dom) -> int | None:
    """A loop/iter extent as an int, None if symbolic."""
    extent = dom.extent if hasattr(dom, "extent") else dom
    return int(extent) if isinstance(extent, (int, tirx.IntImm)) else None


def divisor_at_most(n: int, limit: int) -> int:
    """The largest divisor of ``n`` that is at most ``limit``."""
    for d in range(min(n, limit), 0, -1):
        if n % d == 0:
            return d
    return 1


def var_of_index(index) -> tirx.Var | None:
    """The block iter var an index expression is (``v`` or ``v + c``), if any."""
    if isinstance(index, tirx.Var):
        return index
    if isinstance(index, tirx.Add):
        for part in (index.a, index.b):
            if isinstance(part, tirx.Var):
                return part
    return None


def same_domain(info, extents: list[int]) -> bool:
    """An elementwise block over exactly ``extents`` (the reduction's spatial extents, in
    order): it can be computed from the reduction's accumulator tile."""
    return [extent_of(it.dom) for it in info.iters] == list(extents) and \
        info.dom_kind() == "S" * len(extents)


def fold_epilogue(sch: s_tir.Schedule, consumers: list, extents: list[int]) -> list:
    """Fold the injective ``consumers`` of a reduction whose output was cached
    (``cache_write``): the leading ones over the reduction's own domain are computed from the
    accumulator (inlined into the last of them, which is inlined into the write-back); the
    ones after the first that is not (a broadcast to a larger tensor, as the multiply of a
    squeeze-and-excitation block: the whole feature map scaled by a per-channel vector)
    are inlined into the last one, which is returned to be scheduled at the root on its
    own, so the large part is not computed inside the reduction's (small) tiles."""
    head = []
    for info in consumers:
        if not same_domain(info, extents):
            break
        head.append(info)
    tail = consumers[len(head):]
    for info in head[:-1]:
        sch.compute_inline(info.block_rv)
    if head and tail and _reads(sch, tail) & _reduced(sch, head[-1]):
        # A later consumer reads the reduction's result itself (a normalization's
        # ``x - mean`` next to its variance): computing the epilogue's head from the
        # accumulator would leave that buffer unwritten (a code-generation failure).
        raise ValueError("an epilogue beyond the reduction's domain reads its result")
    if head:
        sch.reverse_compute_inline(head[-1].block_rv)
    for info in tail[:-1]:
        sch.compute_inline(info.block_rv)
    return tail[-1:]


def _reads(sch: s_tir.Schedule, infos: list) -> set:
    return {region.source for info in infos for region in sch.get(info.block_rv).reads}


def _reduced(sch: s_tir.Schedule, last) -> set:
    """The intermediate buffers the epilogue's (inlined) head reads: the reduction's result."""
    intermediate = set(sch.get(sch.get_sblock("root")).alloc_buffers)
    block = sch.get(last.block_rv)
    written = {region.source for region in block.writes}
    return ({region.source for region in block.reads} & intermediate) - written


# An elementwise loop of fewer elements than this runs on one core (thread wake-up costs more).
PARALLEL_MIN_ELEMENTS = 1 << 14


def schedule_injective_block(sch: s_tir.Schedule, block, lanes: int,
                             parallel_min: int = 2) -> None:
    """A root-level injective block: its innermost loop vectorized (split at the SIMD width
    when that divides it, whole when it is short), the loops outside fused and parallel (when
    there are at least ``PARALLEL_MIN_ELEMENTS`` elements and ``parallel_min`` iterations).
    Vectors never span rows: index arithmetic across a row boundary (``// W``, ``% W`` per lane)
    turns vector code into gathers slower than scalar code."""
    loops = sch.get_loops(block)
    if not loops:
        return
    extents = [extent_of(sch.get(loop)) for loop in loops]
    if any(e is None for e in extents):
        return
    total = 1
    for extent in extents:
        total *= extent
    *outer, inner = loops
    width = extents[-1]
    if width % lanes == 0 and width > lanes:
        inner_outer, vector = sch.split(inner, factors=[None, lanes])
        outer.append(inner_outer)
    elif width <= 4 * lanes:
        vector = inner
    else:
        step = divisor_at_most(width, lanes)
        if step >= 4:
            inner_outer, vector = sch.split(inner, factors=[None, step])
            outer.append(inner_outer)
        else:
            vector = None
            outer.append(inner)
    if vector is not None and extent_of(sch.get(vector)) > 1:
        sch.vectorize(vector)
    if not outer:
        return
    fused = sch.fuse(*outer) if len(outer) > 1 else outer[0]
    if total >= PARALLEL_MIN_ELEMENTS and extent_of(sch.get(fused)) >= parallel_min:
        sch.parallel(fused)
