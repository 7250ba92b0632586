"""Which ONNX operators edgec can import, and one error listing every one it cannot."""

from __future__ import annotations

import collections
import functools

import onnx

from edgec.errors import UnsupportedModelError

# Handled by TVM's importer outside its converter table.
_STRUCTURAL_OPS = frozenset({"If"})
_MAX_NODES_LISTED = 5


@functools.cache
def supported_ops() -> frozenset[str]:
    from tvm.relax.frontend.onnx.onnx_frontend import _get_convert_map

    return frozenset(_get_convert_map()) | _STRUCTURAL_OPS


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
