"""Counts of what the passes rewrote, per rule, for the compile report.

The pass runner opens ``collecting()`` around the pipeline; passes call ``record(rule, n)``.
Outside a collection (a pass used on its own), records are dropped.
"""

from __future__ import annotations

import collections
import contextlib

_active: list[collections.Counter] = []


@contextlib.contextmanager
def collecting():
    counter: collections.Counter = collections.Counter()
    _active.append(counter)
    try:
        yield counter
    finally:
        _active.pop()


def record(rule: str, count: int = 1) -> None:
    if _active and count:
        _active[-1][rule] += count
