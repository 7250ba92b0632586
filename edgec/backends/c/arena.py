"""edgec's arena planner: one offset per buffer in one static block of memory.

Every buffer (an intermediate tensor, or a kernel's scratch) is live over an interval of calls
``[first, last]``; two buffers may share bytes only if their intervals do not overlap. Placement
is greedy, as TFLite Micro's planner does it: buffers taken one by one in some order, each put
at the lowest aligned offset where it overlaps no buffer already placed that is live at the same
time. The order matters, so several are tried (largest first, longest-lived first, earliest
first, and largest first breaking ties by start) and the smallest arena kept. Unlike TVM's
static plan, buffers of different dtypes and sizes share memory freely.

``lower_bound`` is the most memory live at any one call: no plan can be smaller.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

ALIGN = 16


@dataclasses.dataclass(frozen=True)
class Buffer:
    key: object          # the caller's handle (a tensor index, ("scratch", call))
    size: int            # bytes
    first: int           # first call it is live in
    last: int            # last call it is live in


@dataclasses.dataclass
class Plan:
    offsets: dict[object, int]
    size: int            # the arena's bytes (a multiple of ALIGN)
    lower_bound: int     # the most bytes live at once
    order: str           # the ordering that won


def align(n: int, to: int = ALIGN) -> int:
    return (n + to - 1) // to * to


_ORDERS = {
    "size": lambda b: (-b.size, b.first),
    "lifetime": lambda b: (-(b.last - b.first), -b.size),
    "start": lambda b: (b.first, -b.size),
    "area": lambda b: (-b.size * (b.last - b.first + 1), b.first),
}


def plan(buffers: Sequence[Buffer]) -> Plan:
    buffers = [b for b in buffers if b.size > 0]
    best: Plan | None = None
    for name, key in _ORDERS.items():
        offsets = _greedy(sorted(buffers, key=key))
        size = max((offsets[b.key] + align(b.size) for b in buffers), default=0)
        if best is None or size < best.size:
            best = Plan(offsets, size, 0, name)
    assert best is not None
    best.lower_bound = lower_bound(buffers)
    return best


def lower_bound(buffers: Sequence[Buffer]) -> int:
    steps = {s for b in buffers for s in (b.first, b.last)}
    return max((sum(align(b.size) for b in buffers if b.first <= s <= b.last) for s in steps),
               default=0)


def _greedy(ordered: Sequence[Buffer]) -> dict[object, int]:
    placed: list[tuple[int, int, Buffer]] = []  # (offset, end, buffer)
    offsets: dict[object, int] = {}
    for buf in ordered:
        live = sorted((o, e) for o, e, other in placed
                      if other.first <= buf.last and buf.first <= other.last)
        need = align(buf.size)
        offset = 0
        for start, end in live:
            if offset + need <= start:
                break
            offset = max(offset, end)
        offsets[buf.key] = offset
        placed.append((offset, offset + need, buf))
    return offsets


def check(buffers: Sequence[Buffer], result: Plan) -> None:
    """Assert that no two buffers live at the same time overlap (a self-check of the plan)."""
    items = [(result.offsets[b.key], result.offsets[b.key] + b.size, b) for b in buffers
             if b.size > 0]
    for i, (o1, e1, b1) in enumerate(items):
        assert o1 % ALIGN == 0 and e1 <= result.size, b1
        for o2, e2, b2 in items[i + 1:]:
            if b1.first <= b2.last and b2.first <= b1.last:
                assert e1 <= o2 or e2 <= o1, (b1, b2)
