"""float8, float4 and 2/4-bit integer tensors, held in bytes.

ONNX models carry these types at the graph's edges, in initializers (int4 weights), as Cast
and CastLike targets, as QuantizeLinear outputs and DequantizeLinear inputs. TVM declares the
float8/float4 element types but its CPU code for them computes wrong values (its float8 E5M2 ->
float32 cast turned 0 into 3.05e-5) and it has no 2-bit types. Before import, every such tensor
is given a byte-wide storage type (``signature.STORAGE_DTYPES``): float8 and float4 tensors
hold their bit patterns in uint8, 2- and 4-bit integers their values in int8/uint8. The
artifact's signature keeps the declared types; the runtime converts at the edges.

Operators that convert to or from these types become edgec operators (domain ``ai.edgec``,
converted in ``converters/narrow.py``) computing ONNX's conversions bit for bit:

- ``NarrowCast(x; to, saturate)``: a float or integer tensor to a narrow type;
- ``NarrowDecode(x; from, to)``: float8/float4 bit patterns to a float type;
- ``NarrowQuantize(x, scale[, zero]; axis, block_size, to, saturate)``: ``QuantizeLinear``
  to a narrow type;
- ``NarrowDequantize(x, scale[, zero]; axis, block_size, from, to)``: ``DequantizeLinear``
  from float8/float4.

A ``DequantizeLinear`` of a 2/4-bit integer tensor stays as it is, on the int8/uint8 values:
the quantization passes see an ordinary integer weight. Operators that only move values
(Reshape, Transpose, Identity...) work on the storage unchanged; any other operator reading or
writing a narrow tensor is refused, naming the node.
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper, numpy_helper

from edgec.errors import UnsupportedModelError
from edgec.signature import storage_dtype, to_storage

DOMAIN = "ai.edgec"
EDGEC_OPS = frozenset({"NarrowCast", "NarrowDecode", "NarrowQuantize", "NarrowDequantize"})
# The ONNX operators that become them
NARROW_CONVERSIONS = frozenset({"Cast", "CastLike", "QuantizeLinear", "DequantizeLinear"})

_FLOAT_NARROW = {getattr(TensorProto, n) for n in (
    "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "FLOAT4E2M1")}
_INT_NARROW = {getattr(TensorProto, n) for n in ("INT4", "UINT4", "INT2", "UINT2")}
NARROW = _FLOAT_NARROW | _INT_NARROW
# Operators ONNX defines on these types that only move, copy or describe values.
# (Pad's constant value and ConstantOfShape's value are bit patterns too, of the same type.)
_MOVES = frozenset({
    "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Shape", "Size",
    "Constant", "ConstantOfShape", "Concat", "Split", "Slice", "Gather", "Expand", "Tile",
    "Pad", "Dropout",
})


def type_name(elem: int) -> str:
    """The numpy (ml_dtypes) name of an ONNX element type: float8_e4m3fn, int4, ..."""
    return helper.tensor_dtype_to_np_dtype(elem).name


def _storage_elem(elem: int) -> int:
    return TensorProto.INT8 if storage_dtype(type_name(elem)) == "int8" else TensorProto.UINT8


def uses_narrow_types(model: onnx.ModelProto) -> bool:
    graph = model.graph
    if any(v.type.tensor_type.elem_type in NARROW for v in [*graph.input, *graph.output]):
        return True
    if any(t.data_type in NARROW for t in graph.initializer):
        return True
    for node in graph.node:
        for attr in node.attribute:
            if attr.name in ("to", "output_dtype") and attr.type == onnx.AttributeProto.INT \
                    and attr.i in NARROW:
                return True
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type in NARROW:
                return True
    return False


def lower_narrow_types(model: onnx.ModelProto, origin: str) -> dict[str, str]:
    """Rewrite ``model`` in place as described above; returns the declared type name of each
    graph input and output whose storage type differs from it."""
    if not uses_narrow_types(model):
        return {}
    graph = model.graph
    types = _element_types(model)
    declared = {}
    for value in [*graph.input, *graph.output]:
        elem = value.type.tensor_type.elem_type
        if elem in NARROW:
            declared[value.name] = type_name(elem)
            value.type.tensor_type.elem_type = _storage_elem(elem)
    for index, tensor in enumerate(graph.initializer):
        if tensor.data_type in NARROW:
            graph.initializer[index].CopyFrom(_stored_tensor(tensor))
    nodes = []
    for index, node in enumerate(graph.node):
        nodes.extend(_lower_node(node, index, types, origin))
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]  # (types changed; the clean-up infers them again)
    if any(n.domain == DOMAIN for n in graph.node) and \
            not any(o.domain == DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_operatorsetid(DOMAIN, 1))
    return declared


def _element_types(model: onnx.ModelProto) -> dict[str, int]:
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - inference is a help here; the declared types remain
        inferred = model
    graph = inferred.graph
    types = {v.name: v.type.tensor_type.elem_type
             for v in [*graph.input, *graph.output, *graph.value_info]}
    types.update({t.name: t.data_type for t in graph.initializer})
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.TENSOR:
                    types[node.output[0]] = attr.t.data_type
        elif node.op_type == "Cast":
            types[node.output[0]] = _attr(node, "to", 0)
    return types


def _stored_tensor(tensor: onnx.TensorProto) -> onnx.TensorProto:
    values = numpy_helper.to_array(tensor)
    return numpy_helper.from_array(to_storage(type_name(tensor.data_type), values), tensor.name)


def _attr(node: onnx.NodeProto, name: str, default):
    for attr in node.attribute:
        if attr.name == name:
            return helper.get_attribute_value(attr)
    return default


def _lower_node(node: onnx.NodeProto, index: int, types: dict[str, int],
                origin: str) -> list[onnx.NodeProto]:
    label = f"{node.op_type} node '{node.name or index}'"
    for attr in node.attribute:  # Constant, ConstantOfShape
        if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type in NARROW:
            attr.t.CopyFrom(_stored_tensor(attr.t))
    if node.op_type in ("Cast", "CastLike"):
        source = types.get(node.input[0], 0)
        target = _attr(node, "to", 0) if node.op_type == "Cast" else types.get(node.input[1], 0)
        if source in NARROW or target in NARROW:
            return _cast(node, source, target, bool(_attr(node, "saturate", 1)))
        return [node]
    if node.op_type == "QuantizeLinear":
        zero = node.input[2] if len(node.input) > 2 and node.input[2] else None
        target = types.get(zero, 0) if zero else _attr(node, "output_dtype", 0)
        if target in NARROW:
            return [_quantize(node, target, label)]
        return [node]
    if node.op_type == "DequantizeLinear":
        source = types.get(node.input[0], 0)
        if source in _FLOAT_NARROW:
            return [_dequantize(node, source, label)]
        return [node]  # (2/4-bit integers: their int8/uint8 values, as ONNX computes them)
    narrow = [n for n in [*node.input, *node.output] if n and types.get(n, 0) in NARROW]
    if narrow and node.op_type not in _MOVES:
        raise UnsupportedModelError(
            f"{label} of model '{origin}' computes on '{narrow[0]}' "
            f"({type_name(types[narrow[0]])}); edgec converts float8, float4 and 2/4-bit "
            "tensors to and from other types (Cast, CastLike, QuantizeLinear, "
            "DequantizeLinear) and moves them (Reshape, Transpose, ...), but computes on none. "
            "Cast them to float16/float32 or int8 first")
    return [node]


def _cast(node: onnx.NodeProto, source: int, target: int,
          saturate: bool) -> list[onnx.NodeProto]:
    out = node.output[0]
    value = node.input[0]
    nodes = []
    if source in _FLOAT_NARROW:
        if target not in NARROW and helper.tensor_dtype_to_np_dtype(target).kind == "f" \
                or target == TensorProto.BFLOAT16:
            return [_edgec_node("NarrowDecode", [value], out, node, **{"from": source},
                                to=target)]
        decoded = f"{out}__decoded"
        nodes.append(_edgec_node("NarrowDecode", [value], decoded, node,
                                 **{"from": source}, to=TensorProto.FLOAT))
        value = decoded
    if target in NARROW:
        nodes.append(_edgec_node("NarrowCast", [value], out, node, to=target,
                                 saturate=int(saturate)))
    else:  # a plain Cast from the decoded floats or the stored integers
        nodes.append(helper.make_node("Cast", [value], [out], name=node.name, to=target))
    return nodes


def _quantize(node: onnx.NodeProto, target: int, label: str) -> onnx.NodeProto:
    if _attr(node, "precision", 0):
        raise UnsupportedModelError(f"{label} sets 'precision'; edgec quantizes to "
                                    f"{type_name(target)} in the input's own precision")
    return _edgec_node("NarrowQuantize", list(node.input), node.output[0], node,
                       axis=_attr(node, "axis", 1), block_size=_attr(node, "block_size", 0),
                       saturate=_attr(node, "saturate", 1), to=target)


def _dequantize(node: onnx.NodeProto, source: int, label: str) -> onnx.NodeProto:
    return _edgec_node("NarrowDequantize", list(node.input[:2]), node.output[0], node,
                       axis=_attr(node, "axis", 1), block_size=_attr(node, "block_size", 0),
                       to=_attr(node, "output_dtype", 0), **{"from": source})


def _edgec_node(op: str, inputs: list[str], output: str, original: onnx.NodeProto,
                **attrs) -> onnx.NodeProto:
    return helper.make_node(op, inputs, [output], name=original.name or None, domain=DOMAIN,
                            **attrs)
