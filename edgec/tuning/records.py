"""What a tuning record is, for deciding whether to use it: the target it was measured for,
its schedule (trace) as comparable text, and whether it was measured at all."""

from __future__ import annotations

import json


def target_key(target) -> tuple:
    """What decides whether a record measured for one target is right for another: the ISA
    (triple, CPU model, features) and the core count the schedule was measured with."""
    attrs = target.attrs if hasattr(target, "attrs") else target
    get = attrs.get if hasattr(attrs, "get") else (lambda k, d=None: d)
    mattr = get("mattr", None) or []
    return (str(target.kind.name) if hasattr(target, "kind") else str(get("kind", "")),
            str(get("mtriple", "") or ""), str(get("mcpu", "") or ""),
            int(get("num-cores", 0) or 0), tuple(sorted(str(a) for a in mattr)))


def describe_target(target) -> str:
    kind, triple, mcpu, cores, _ = target_key(target)
    return f"{mcpu or triple or kind}, {cores} cores" if cores else (mcpu or triple or kind)


def trace_key(trace) -> str:
    """A schedule's trace as text, equal for equal schedules."""
    return json.dumps(_plain(trace.as_json()))


def measured(record) -> bool:
    """Whether the record holds a latency (failed builds and runs are stored as 1e10 s)."""
    return bool(record.run_secs) and min(float(x) for x in record.run_secs) < 1e9


def _plain(value):
    """A trace's JSON form as plain Python (FFI arrays and maps to lists and dicts)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    try:
        return [_plain(v) for v in value]
    except TypeError:
        return str(value)
