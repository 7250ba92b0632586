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


# An elementwise loop of fewer elements than this runs on one core (thread wake-up costs more).
PARALLEL_MIN_ELEMENTS = 1 << 14


def schedule_injective_block(sch: s_tir.Schedule, block, lanes: int,
                             parallel_min: int = 2) -> None:
    """Fuse a root-level injective block's loops; parallel outside (when it has at least
    ``PARALLEL_MIN_ELEMENTS`` elements and ``parallel_min`` outer iterations), vectorized
    inside."""
    loops = sch.get_loops(block)
    if not loops:
        return
    fused = sch.fuse(*loops) if len(loops) > 1 else loops[0]
    extent = extent_of(sch.get(fused))
    if extent is None:
        return
    vec = divisor_at_most(extent, lanes)
    if vec >= 2:
        outer, inner = sch.split(fused, factors=[None, vec])
        sch.vectorize(inner)
    else:
        outer = fused
    if extent >= PARALLEL_MIN_ELEMENTS and extent // max(vec, 1) >= parallel_min:
        sch.parallel(outer)
