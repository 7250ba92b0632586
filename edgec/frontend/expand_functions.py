"""Operators ONNX defines as functions of other operators, expanded where edgec has no converter.

Some ONNX operators come with their definition as a function: a graph of simpler operators
(the ``_expanded`` cases of ONNX's node suite are those graphs). Opset 27's ``LinearAttention``
(its recurrence a ``Scan``) and ``CausalConvWithState`` (``Concat``, ``Conv``, ``Slice``) are
defined with a body that depends on the node's attributes and input types. A node whose
operator edgec cannot convert directly is replaced by its function body, when ONNX has one for
the model's opset and every operator in it can be converted; otherwise it stays and is
reported as unsupported.
"""

from __future__ import annotations

import logging

import onnx
from onnx import FunctionProto, TypeProto

from edgec.frontend.opset import model_opset
from edgec.frontend.support import supported_ops

logger = logging.getLogger(__name__)

_DEFAULT_DOMAINS = ("", "ai.onnx")
# Random operators define themselves through other random operators, SequenceMap through
# sequence operators: nothing to gain.
_NOT_EXPANDED = frozenset({"Bernoulli", "SequenceMap"})
_UNROLLED = frozenset({"Scan"})  # (frontend/unroll_scan.py)


def expandable(op_type: str) -> bool:
    """Whether edgec expands ``op_type`` (no converter, and ONNX defines it as a function)."""
    if op_type in _NOT_EXPANDED or op_type in supported_ops():
        return False
    try:
        schema = onnx.defs.get_schema(op_type, onnx.defs.onnx_opset_version(), "")
    except onnx.defs.SchemaError:
        return False
    return bool(schema.has_function or schema.has_context_dependent_function)


def expand_function_ops(model: onnx.ModelProto) -> set[str]:
    """Expand, in place, every node of the main graph that edgec cannot convert but ONNX defines
    as a function; returns the operator types expanded."""
    known = supported_ops() | _UNROLLED
    opset = model_opset(model)
    wanted = {i for i, n in enumerate(model.graph.node) if n.domain in _DEFAULT_DOMAINS
              and n.op_type not in known and n.op_type not in _NOT_EXPANDED}
    if not wanted:
        return set()
    types = _value_types(model)
    nodes, expanded = [], set()
    for index, node in enumerate(model.graph.node):
        body = _body(node, opset, types, f"{node.name or node.op_type}_{index}__") \
            if index in wanted else None
        if body is None or not all(_convertible(n, known) for n in body):
            nodes.append(node)
            continue
        logger.info("%s node '%s' expanded into its ONNX function (%d nodes)", node.op_type,
                    node.name, len(body))
        nodes.extend(body)
        expanded.add(node.op_type)
    if expanded:
        del model.graph.node[:]
        model.graph.node.extend(nodes)
    return expanded


def _convertible(node: onnx.NodeProto, known: frozenset[str]) -> bool:
    if node.op_type not in known:
        return False
    for attr in node.attribute:
        for graph in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else attr.graphs):
            if not all(_convertible(n, known) for n in graph.node):
                return False
    return True


def _value_types(model: onnx.ModelProto) -> dict[str, TypeProto]:
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - without inference, the declared types remain
        inferred = model
    graph = inferred.graph
    types = {v.name: v.type for v in [*graph.input, *graph.output, *graph.value_info]}
    for tensor in graph.initializer:
        value = TypeProto()
        value.tensor_type.elem_type = tensor.data_type
        for dim in tensor.dims:
            value.tensor_type.shape.dim.add().dim_value = dim
        types[tensor.name] = value
    return types


def _body(node: onnx.NodeProto, opset: int, types: dict[str, TypeProto],
          prefix: str) -> list[onnx.NodeProto] | None:
    """The nodes of ``node``'s function at ``opset``, named apart with ``prefix``, or None."""
    from onnx.backend.test.case.node import function_expand_helper

    try:
        schema = onnx.defs.get_schema(node.op_type, opset, "")
    except onnx.defs.SchemaError:
        return None
    node = _with_defaults(node, schema)
    function = FunctionProto()
    static = [v for v in schema.function_opset_versions if v <= opset]
    dependent = [v for v in schema.context_dependent_function_opset_versions if v <= opset]
    try:
        if static:
            function.ParseFromString(schema.get_function_with_opset_version(max(static)))
        elif dependent:
            if any(name and name not in types for name in node.input):
                return None  # (the body depends on input types inference could not give)
            input_types = [(types[name] if name else TypeProto()).SerializeToString()
                           for name in node.input]
            function.ParseFromString(schema.get_context_dependent_function_with_opset_version(
                max(dependent), node.SerializeToString(), input_types))
        else:
            return None
    except Exception as err:  # noqa: BLE001 - ONNX could not build the body: not expanded
        logger.debug("no function body for %s: %s", node.op_type, err)
        return None
    return function_expand_helper(node, function, prefix) if function.node else None


def _with_defaults(node: onnx.NodeProto, schema) -> onnx.NodeProto:
    """``node`` with every attribute it leaves out set to the schema's default (the function
    body refers to them)."""
    copy = onnx.NodeProto()
    copy.CopyFrom(node)
    present = {a.name for a in node.attribute}
    for name, attr in schema.attributes.items():
        if name not in present and attr.default_value.name:
            copy.attribute.append(attr.default_value)
    return copy
