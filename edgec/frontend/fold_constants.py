"""Clean an ONNX graph so that TVM's importer sees constants where exporters left computations.

Real exporters (PaddlePaddle, PyTorch, TF converters) emit shape arithmetic that only becomes
constant once input shapes are fixed: ``Shape -> Gather/Slice -> Concat -> Reshape``, ``Constant``
nodes feeding ``Reshape``, casts and transposes of weights. TVM's importer needs those as
constants (it refuses, for example, a ``Reshape`` whose shape is a computed tensor). With the
input shapes fixed, this clean-up repeats until nothing changes:

1. ONNX shape inference (with data propagation) on the graph.
2. ``Constant`` nodes become initializers.
3. ``Shape`` / ``Size`` of a tensor whose shape is static become initializers.
4. A node whose inputs are all constants is evaluated with ONNX's reference evaluator and its
   outputs become initializers, unless the op is random, has sub-graphs, belongs to another
   domain, is a quantization boundary (``QuantizeLinear``/``DequantizeLinear``, which the
   quantization passes must see), or its result would be much larger than its inputs.
5. ``Identity`` nodes are bypassed (unless they name a graph output).
6. Inference-mode ``Dropout`` is the identity: it is bypassed like ``Identity``, and its mask
   output, when anything reads it, becomes ``ConstantOfShape(Shape(x), true)`` (folded in the
   next round). Without this, TVM fuses the mask (a second kernel output) into the producer's
   kernel. A Dropout in training mode with a non-zero ratio is random and is refused.
7. Nodes and initializers that no graph output depends on are removed.

It runs on the ONNX graph, after opset conversion and before import; it never changes the
values the graph computes, only where they are computed.
"""

from __future__ import annotations

import collections
import dataclasses
import logging

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

from edgec.errors import UnsupportedModelError

logger = logging.getLogger(__name__)

# Results above this size are folded only if they are not larger than the inputs they replace.
_FREE_FOLD_BYTES = 1 << 20
_NEVER_FOLD = frozenset({
    "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial",
    "Bernoulli", "If", "Loop", "Scan", "QuantizeLinear", "DequantizeLinear",
    "DynamicQuantizeLinear",
})
_DEFAULT_DOMAINS = ("", "ai.onnx")
_MAX_ROUNDS = 32


@dataclasses.dataclass
class FoldReport:
    """What the clean-up did, for the compile report."""

    nodes_before: int = 0
    nodes_after: int = 0
    constants_promoted: int = 0
    shapes_resolved: int = 0
    folded: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    identities_removed: int = 0
    dropouts_removed: int = 0
    dead_removed: int = 0
    skipped_large: int = 0

    def describe(self) -> str:
        folded = sum(self.folded.values())
        return (f"{self.nodes_before} -> {self.nodes_after} nodes "
                f"({self.constants_promoted} Constant, {self.shapes_resolved} Shape/Size, "
                f"{folded} constant sub-graph nodes folded, {self.identities_removed} Identity, "
                f"{self.dropouts_removed} Dropout and {self.dead_removed} dead nodes removed)")


def fold_constants(model: onnx.ModelProto) -> tuple[onnx.ModelProto, FoldReport]:
    """Return a copy of ``model`` with constant sub-graphs folded (input shapes already fixed)."""
    work = onnx.ModelProto()
    work.CopyFrom(model)
    report = FoldReport(nodes_before=len(work.graph.node))
    opsets = {e.domain or "": e.version for e in work.opset_import}
    for _ in range(_MAX_ROUNDS):
        work = _infer_shapes(work)
        changed = _fold_round(work, opsets, report)
        report.dead_removed += _remove_dead(work.graph)
        if not changed:
            break
    _refuse_computed_training_mode(work.graph)
    _tensor_constants_in_subgraphs(work.graph)
    report.nodes_after = len(work.graph.node)
    logger.info("ONNX clean-up: %s", report.describe())
    return work, report


_CONSTANT_FORMS = ("value_float", "value_floats", "value_int", "value_ints")
_inlined = iter(range(1 << 62))


def _inline_branch(node, condition: bool, kept: list, new_inits: list, report) -> bool:
    """An ``If`` whose condition is a constant becomes the chosen branch's nodes (their values
    renamed apart, outer values kept, the branch outputs bound to the If's outputs); False,
    keeping the If, when the branch has subgraphs of its own."""
    branch = next((onnx.helper.get_attribute_value(a) for a in node.attribute
                   if a.name == ("then_branch" if condition else "else_branch")), None)
    if branch is None or any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
                             for n in branch.node for a in n.attribute):
        return False
    tag = f"{node.name or node.output[0]}/inlined{next(_inlined)}"
    local = {i.name for i in branch.initializer} | {o for n in branch.node for o in n.output}
    names = {name: f"{tag}/{name}" for name in local if name}
    for init in branch.initializer:
        copy = onnx.TensorProto()
        copy.CopyFrom(init)
        copy.name = names[init.name]
        new_inits.append(copy)
    for inner in branch.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(inner)
        copy.name = f"{tag}/{inner.name}" if inner.name else ""
        for i, value in enumerate(copy.input):
            copy.input[i] = names.get(value, value)
        for i, value in enumerate(copy.output):
            copy.output[i] = names.get(value, value)
        kept.append(copy)
    for out, value in zip(node.output, branch.output):
        if out:
            kept.append(onnx.helper.make_node("Identity", [names.get(value.name, value.name)],
                                              [out], name=f"{tag}/out/{out}"))
    report.folded["If"] += 1
    return True


def _tensor_constants_in_subgraphs(graph: onnx.GraphProto) -> None:
    """``Constant`` nodes inside If/Loop/Scan bodies (the main graph's became initializers)
    rewritten to the ``value`` tensor form, the only one TVM's importer reads."""
    for node in graph.node:
        for attr in node.attribute:
            subgraphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
            for sub in subgraphs:
                for inner in sub.node:
                    if inner.op_type == "Constant" and inner.domain in _DEFAULT_DOMAINS:
                        _as_tensor_constant(inner)
                _tensor_constants_in_subgraphs(sub)


def _as_tensor_constant(node: onnx.NodeProto) -> None:
    forms = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    for name in _CONSTANT_FORMS:
        if name in forms:
            dtype = np.float32 if "float" in name else np.int64
            tensor = numpy_helper.from_array(np.asarray(forms[name], dtype=dtype),
                                             node.output[0])
            del node.attribute[:]
            node.attribute.append(onnx.helper.make_attribute("value", tensor))
            return


def _infer_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    del model.graph.value_info[:]
    try:
        return onnx.shape_inference.infer_shapes(model, data_prop=True)
    except (onnx.shape_inference.InferenceError, RuntimeError) as err:
        logger.debug("shape inference failed during clean-up: %s", err)
        return model


def _static_shapes(graph: onnx.GraphProto) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        tensor_type = value.type.tensor_type
        if not tensor_type.HasField("shape"):
            continue
        dims = tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            shapes[value.name] = tuple(int(d.dim_value) for d in dims)
    return shapes


def _fold_round(model: onnx.ModelProto, opsets: dict[str, int], report: FoldReport) -> bool:
    graph = model.graph
    consts: dict[str, np.ndarray] = {t.name: None for t in graph.initializer}  # lazily decoded
    initializers = {t.name: t for t in graph.initializer}
    shapes = _static_shapes(graph)
    outputs = {o.name for o in graph.output}
    read = outputs | {i for n in graph.node for i in n.input} | \
        {i for n in graph.node for i in _subgraph_reads(n)}
    rename: dict[str, str] = {}
    kept: list[onnx.NodeProto] = []
    new_inits: list[onnx.TensorProto] = []
    changed = False

    def value(name: str) -> np.ndarray:
        if consts[name] is None:
            consts[name] = numpy_helper.to_array(initializers[name])
        return consts[name]

    def emit(name: str, array: np.ndarray) -> None:
        array = np.asarray(array)
        consts[name] = array
        tensor = numpy_helper.from_array(array, name)
        initializers[name] = tensor
        new_inits.append(tensor)

    for node in graph.node:
        _rename_inputs(node, rename)
        default_domain = node.domain in _DEFAULT_DOMAINS
        inputs = [i for i in node.input if i]
        if default_domain and node.op_type == "Constant":
            emit(node.output[0], _evaluate(node, {}, opsets)[0])
            report.constants_promoted += 1
            changed = True
        elif (default_domain and node.op_type in ("Shape", "Size") and inputs
              and inputs[0] in shapes and inputs[0] not in consts):
            emit(node.output[0], _shape_value(node, shapes[inputs[0]]))
            report.shapes_resolved += 1
            changed = True
        elif (default_domain and node.op_type == "Identity" and node.output[0] not in outputs):
            rename[node.output[0]] = node.input[0]
            report.identities_removed += 1
            changed = True
        elif default_domain and node.op_type == "Dropout" and _inference_dropout(node, value,
                                                                                  consts):
            data, out = node.input[0], node.output[0]
            if out in outputs:
                kept.append(onnx.helper.make_node("Identity", [data], [out], name=node.name))
            else:
                rename[out] = data
            if len(node.output) > 1 and node.output[1] in read:
                shape = f"{node.output[1]}__shape"
                kept.append(onnx.helper.make_node("Shape", [data], [shape]))
                kept.append(onnx.helper.make_node(
                    "ConstantOfShape", [shape], [node.output[1]],
                    value=numpy_helper.from_array(np.array([True]))))
            report.dropouts_removed += 1
            changed = True
        elif (default_domain and node.op_type == "If" and inputs and inputs[0] in consts
              and _inline_branch(node, bool(np.asarray(value(inputs[0])).reshape(-1)[0]),
                                 kept, new_inits, report)):
            changed = True
        elif _foldable(node, consts):
            feeds = {name: value(name) for name in inputs}
            results = _evaluate(node, feeds, opsets)
            if results is None:
                kept.append(node)
                continue
            in_bytes = sum(a.nbytes for a in feeds.values())
            out_bytes = sum(np.asarray(r).nbytes for r in results)
            if out_bytes > max(in_bytes, _FREE_FOLD_BYTES):
                report.skipped_large += 1
                kept.append(node)
                continue
            for name, result in zip(node.output, results):
                if name:
                    emit(name, result)
            report.folded[node.op_type] += 1
            changed = True
        else:
            kept.append(node)

    if changed:
        del graph.node[:]
        graph.node.extend(kept)
        graph.initializer.extend(new_inits)
        for sub in _subgraphs(graph):
            for node in sub.node:
                _rename_inputs(node, rename)
    return changed


def _inference_dropout(node: onnx.NodeProto, value, consts: dict) -> bool:
    """Whether ``node`` (a Dropout) is the identity: no ``training_mode`` input (or a constant
    false one), or a ratio of 0. False while those inputs are not yet constants; an error when
    it is a training-mode dropout, whose output is random."""
    inputs = list(node.input) + ["", ""]
    ratio_name, mode_name = inputs[1], inputs[2]
    if not mode_name:
        return True
    if mode_name not in consts or (ratio_name and ratio_name not in consts):
        return False
    if not bool(np.asarray(value(mode_name)).reshape(-1)[0]):
        return True
    ratio = float(np.asarray(value(ratio_name)).reshape(-1)[0]) if ratio_name else 0.5
    if ratio == 0.0:
        return True
    raise UnsupportedModelError(
        f"Dropout node '{node.name or node.output[0]}' runs in training mode (training_mode "
        f"true, ratio {ratio:g}): its output is random, and edgec compiles inference only. "
        "Export the model in inference mode (PyTorch: model.eval()) or set training_mode to "
        "false")


def _refuse_computed_training_mode(graph: onnx.GraphProto) -> None:
    """A Dropout whose ``training_mode`` is not a constant (a graph input) cannot be compiled:
    TVM's importer would compute inference mode whatever the input says."""
    for node in graph.node:
        if node.op_type == "Dropout" and len(node.input) > 2 and node.input[2]:
            raise UnsupportedModelError(
                f"Dropout node '{node.name or node.output[0]}' takes its training_mode from "
                f"'{node.input[2]}', which is not a constant; edgec compiles inference only: "
                "make training_mode a constant false (or remove the input)")


def _foldable(node: onnx.NodeProto, consts: dict) -> bool:
    inputs = [i for i in node.input if i]
    return (node.domain in _DEFAULT_DOMAINS and node.op_type not in _NEVER_FOLD
            and bool(inputs) and all(i in consts for i in inputs)
            and not any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
                        for a in node.attribute))


def _evaluate(node: onnx.NodeProto, feeds: dict[str, np.ndarray],
              opsets: dict[str, int]) -> list[np.ndarray] | None:
    try:
        evaluator = ReferenceEvaluator(node, opsets={"": opsets.get("", opsets.get("ai.onnx"))})
        return [np.asarray(r) for r in evaluator.run(None, feeds)]
    except Exception as err:  # the reference evaluator raises many kinds; folding is optional
        if node.op_type == "Constant":
            raise
        logger.debug("could not fold %s node '%s': %s", node.op_type, node.name, err)
        return None


def _shape_value(node: onnx.NodeProto, shape: tuple[int, ...]) -> np.ndarray:
    if node.op_type == "Size":
        return np.array(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    start, end = attrs.get("start", 0), attrs.get("end", None)
    return np.array(shape[start:end], dtype=np.int64)


def _rename_inputs(node: onnx.NodeProto, rename: dict[str, str]) -> None:
    if not rename:
        return
    for i, name in enumerate(node.input):
        while name in rename:
            name = rename[name]
        node.input[i] = name


def _subgraphs(graph: onnx.GraphProto):
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield attr.g
                yield from _subgraphs(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    yield sub
                    yield from _subgraphs(sub)


def _subgraph_reads(node: onnx.NodeProto) -> set[str]:
    reads: set[str] = set()
    for attr in node.attribute:
        subs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
        for sub in subs:
            for inner in sub.node:
                reads.update(inner.input)
                reads.update(_subgraph_reads(inner))
    return reads


def _remove_dead(graph: onnx.GraphProto) -> int:
    """Drop nodes and initializers no graph output depends on; return the nodes dropped."""
    needed = {o.name for o in graph.output}
    live = []
    for node in reversed(graph.node):
        if any(o in needed for o in node.output if o):
            live.append(node)
            needed.update(i for i in node.input if i)
            needed.update(_subgraph_reads(node))
    removed = len(graph.node) - len(live)
    if removed:
        del graph.node[:]
        graph.node.extend(reversed(live))
    unused = [t for t in graph.initializer if t.name not in needed]
    if unused:
        keep = [t for t in graph.initializer if t.name in needed]
        del graph.initializer[:]
        graph.initializer.extend(keep)
        unused_names = {t.name for t in unused}
        stale_inputs = [i for i in graph.input if i.name in unused_names]
        for value in stale_inputs:
            graph.input.remove(value)
    return removed
