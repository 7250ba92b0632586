"""Translate tvmc-style target strings into TVM 0.27 target dicts.

TVM 0.27 refuses the string form (``Target("llvm -mcpu=x")`` raises); users coming from tvmc
and older TVM scripts still write it. Here ``"llvm -mtriple=aarch64-linux-gnu -mcpu=cortex-a72
-mattr=+neon,+dotprod -num-cores=4"`` becomes ``{"kind": "llvm", "mtriple": ..., "mcpu": ...,
"mattr": ["+neon", "+dotprod"], "num-cores": 4}``. TVM validates the result.
"""

from __future__ import annotations

import shlex
from typing import Any

from edgec.errors import TargetError

# Attributes whose value is a comma-separated list.
_LIST_ATTRS = frozenset({"mattr", "keys", "libs", "cl-opt"})


def looks_like_tvmc(spec: str) -> bool:
    """``KIND -opt=value ...``: a kind word followed by dash options."""
    parts = spec.split()
    return len(parts) > 1 and parts[0].isidentifier() and all(
        p.startswith("-") for p in parts[1:] if "=" in p or p.startswith("-"))


def translate_tvmc(spec: str) -> dict[str, Any]:
    try:
        tokens = shlex.split(spec)
    except ValueError as err:
        raise TargetError(f"cannot read target string '{spec}': {err}") from err
    if not tokens or tokens[0].startswith("-"):
        raise TargetError(f"target string '{spec}' must start with a target kind, e.g. "
                          "'llvm -mtriple=aarch64-linux-gnu -mcpu=cortex-a72'")
    target: dict[str, Any] = {"kind": tokens[0]}
    for token in tokens[1:]:
        if not token.startswith("-"):
            raise TargetError(f"target string '{spec}': '{token}' is not an option (options look "
                              "like -mcpu=cortex-a72)")
        key, sep, value = token.lstrip("-").partition("=")
        if not key:
            raise TargetError(f"target string '{spec}': empty option '{token}'")
        target[key] = _value(key, value if sep else "true")
    return target


def _value(key: str, value: str) -> Any:
    if key in _LIST_ATTRS:
        return [v for v in value.split(",") if v]
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value.lstrip("-").isdigit():
        return int(value)
    return value
