"""Which ONNX operators edgec can import, and one error listing every one it cannot."""

from __future__ import annotations

import collections
import functools

import onnx

from edgec.errors import UnsupportedModelError

# Handled by TVM's importer outside its converter table (If), or unrolled before import when
# its trip count is constant (Loop: frontend/unroll_scan.py, which refuses the others).
_STRUCTURAL_OPS = frozenset({"If", "Loop"})
_MAX_NODES_LISTED = 5
# Element types edgec has no storage for (narrow_types.py holds float8, float4 and 2/4-bit
# tensors in bytes; TVM's own float8 code computes wrong values).
UNSUPPORTED_ELEMENT_TYPES = frozenset(
    getattr(onnx.TensorProto, name) for name in ("FLOAT8E8M0", "FLOAT6E2M3", "FLOAT6E3M2")
    if hasattr(onnx.TensorProto, name))


@functools.cache
def supported_ops() -> frozenset[str]:
    from tvm.relax.frontend.onnx.onnx_frontend import _get_convert_map

    from edgec.frontend.converters import CONVERTERS

    return frozenset(_get_convert_map()) | frozenset(CONVERTERS) | _STRUCTURAL_OPS


def check_operators(model: onnx.ModelProto, origin: str) -> None:
    """Raise one error naming every unsupported operator and the nodes that use it."""
    known = supported_ops()
    missing: dict[str, list[str]] = collections.defaultdict(list)

    def visit(graph: onnx.GraphProto) -> None:
        for index, node in enumerate(graph.node):
            if node.op_type not in known:
                domain = node.domain if node.domain not in ("", "ai.onnx") else ""
                key = f"{domain}::{node.op_type}" if domain else node.op_type
                missing[key].append(node.name or f"#{index} ({node.output[0]})")
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    visit(attr.g)
                for sub in attr.graphs:
                    visit(sub)

    visit(model.graph)
    if not missing:
        return
    parts = []
    for op, nodes in sorted(missing.items()):
        shown = ", ".join(f"'{n}'" for n in nodes[:_MAX_NODES_LISTED])
        more = f" and {len(nodes) - _MAX_NODES_LISTED} more" if len(nodes) > _MAX_NODES_LISTED else ""
        parts.append(f"{op} (nodes {shown}{more})")
    count = sum(len(v) for v in missing.values())
    raise UnsupportedModelError(
        f"model '{origin}' uses {len(missing)} operator type(s) edgec cannot compile yet, in "
        f"{count} node(s): {'; '.join(parts)}. Re-export the model without them, or replace "
        "them with supported ONNX operators")


def check_element_types(model: onnx.ModelProto, origin: str) -> None:
    """Raise one error for outputs that are not tensors (sequences, maps, optionals: TVM's
    importer would return a tensor in their place), and one for tensors of element types edgec
    cannot compute (float8 E8M0, float6): graph inputs and outputs, initializers, Cast
    targets."""
    graph = model.graph
    not_tensors = [o.name for o in graph.output if not o.type.HasField("tensor_type")]
    if not_tensors:
        raise UnsupportedModelError(
            f"model '{origin}' has output(s) {', '.join(repr(n) for n in not_tensors)} that are "
            "not tensors (sequence, map or optional); edgec compiles tensor outputs only")
    found: list[str] = []
    for value in [*graph.input, *graph.output]:
        if value.type.tensor_type.elem_type in UNSUPPORTED_ELEMENT_TYPES:
            found.append(f"'{value.name}' ({_type_name(value.type.tensor_type.elem_type)})")
    for tensor in graph.initializer:
        if tensor.data_type in UNSUPPORTED_ELEMENT_TYPES:
            found.append(f"initializer '{tensor.name}' ({_type_name(tensor.data_type)})")
    for index, node in enumerate(graph.node):
        for attr in node.attribute:
            if node.op_type == "Cast" and attr.name == "to" and attr.i in \
                    UNSUPPORTED_ELEMENT_TYPES:
                found.append(f"Cast node '{node.name or index}' (to {_type_name(attr.i)})")
    if found:
        shown = ", ".join(found[:_MAX_NODES_LISTED])
        more = f" and {len(found) - _MAX_NODES_LISTED} more" if len(found) > _MAX_NODES_LISTED \
            else ""
        raise UnsupportedModelError(
            f"model '{origin}' uses element types edgec cannot compile: {shown}"
            f"{more}. Convert the model to float16/float32 or int8")


def _type_name(elem: int) -> str:
    return onnx.TensorProto.DataType.Name(elem)
