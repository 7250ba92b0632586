"""What edgec's converters share: constants, node names, refusals."""

from __future__ import annotations

from edgec.errors import UnsupportedModelError
from edgec.passes.bindings import constant_array


def scalar_constant(expr) -> float | None:
    array = constant_array(expr)
    if array is None or array.size != 1:
        return None
    return float(array.reshape(()))


def optional_input(inputs, index: int):
    """Input ``index`` of a node, or None when it is absent or left empty."""
    return inputs[index] if len(inputs) > index and inputs[index] is not None else None


def node_label(op: str, attrs: dict) -> str:
    name = (attrs.get("tvm_custom") or {}).get("name") or ""
    return f"{op} node '{name}'" if name else f"a {op} node"


def refuse(op: str, attrs: dict, what: str, todo: str) -> UnsupportedModelError:
    """The error for a node edgec cannot compile as written: what it does, what to do."""
    return UnsupportedModelError(f"{node_label(op, attrs)} {what}; {todo}")


def text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
