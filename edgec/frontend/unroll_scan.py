"""Scan, unrolled: with static shapes a ``Scan`` (opset 9 and later) runs a known number of
steps, so its body is written out once per step in the main graph, before the clean-up. TVM's
importer has no Scan; unrolled, the body's operators import as any others and the clean-up and
fusion see through the steps.

Per step ``t`` (counted backwards for a scan input or output whose direction is 1): every scan
input is sliced at ``t`` along its axis (``Gather`` with a scalar index, which drops the axis),
the body's nodes are copied with their values renamed for the step, the state values flow from
one step's outputs to the next one's inputs, and each scan output's per-step values are stacked
along its axis (``Unsqueeze`` + ``Concat``). Values the body reads from the enclosing graph keep
their names. A Scan whose sequence length is unknown, or the opset-8 form (batched, with
sequence lengths), is left as it is and refused by the operator check.

Loop, unrolled the same way when its trip count is a constant (at most ``_MAX_STEPS``), its
condition input absent or a constant true, and its body passes the condition through unchanged
(``cond_out = Identity(cond_in)`` or a constant true): it then runs exactly that many steps.
Per step the iteration number is a constant, the loop-carried values flow from step to step,
and each scan output's values are stacked along a new first axis. A trip count or condition
that depends on a model input is asked to be frozen (``frontend/freeze.py``); any other Loop
is refused (``check_loops``).
"""

from __future__ import annotations

import itertools
import logging

import numpy as np
import onnx
from onnx import helper, numpy_helper

logger = logging.getLogger(__name__)

_MAX_STEPS = 4096


def unroll_scans(model: onnx.ModelProto) -> int:
    """Unroll every Scan of the main graph whose length is known, in place; returns how many."""
    opset = next((e.version for e in model.opset_import if e.domain in ("", "ai.onnx")), 0)
    if opset < 9 or not any(n.op_type in ("Scan", "Loop") for n in model.graph.node):
        return 0
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = _known_shapes(inferred.graph)
    counter = itertools.count()
    done = 0
    new_nodes = []
    for node in model.graph.node:
        if node.op_type in ("Scan", "Loop") and node.domain in ("", "ai.onnx"):
            unroll = _unroll if node.op_type == "Scan" else _unroll_loop
            unrolled = unroll(node, shapes, model.graph, counter, opset)
            if unrolled is not None:
                new_nodes.extend(unrolled)
                done += 1
                continue
        new_nodes.append(node)
    if done:
        del model.graph.node[:]
        model.graph.node.extend(new_nodes)
        logger.info("unrolled %d Scan/Loop node(s)", done)
    return done


def _known_shapes(graph) -> dict[str, list[int]]:
    shapes = {}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        dims = value.type.tensor_type.shape.dim
        if value.type.tensor_type.HasField("shape") and all(d.HasField("dim_value")
                                                             for d in dims):
            shapes[value.name] = [d.dim_value for d in dims]
    for init in graph.initializer:
        shapes[init.name] = list(init.dims)
    return shapes


def _attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _unroll(node, shapes, graph, counter, opset: int = 13):
    body = _attr(node, "body", None)
    scans = int(_attr(node, "num_scan_inputs", 0))
    if body is None or scans < 1 or any(
            a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
            for n in body.node for a in n.attribute):
        return None  # (a nested subgraph would need its own renaming)
    n_state = len(node.input) - scans
    in_axes = list(_attr(node, "scan_input_axes", [0] * scans))
    in_dirs = list(_attr(node, "scan_input_directions", [0] * scans))
    n_out = len(body.output) - n_state
    out_axes = list(_attr(node, "scan_output_axes", [0] * n_out))
    if any(axis != 0 and not body.output[n_state + j].type.tensor_type.HasField("shape")
           for j, axis in enumerate(out_axes)):
        return None
    out_dirs = list(_attr(node, "scan_output_directions", [0] * n_out))
    scan_names = list(node.input[n_state:])
    lengths = set()
    for name, axis in zip(scan_names, in_axes):
        shape = shapes.get(name)
        if shape is None:
            return None
        lengths.add(shape[axis % len(shape)])
    if len(lengths) != 1:
        return None
    steps = lengths.pop()
    if steps < 1 or steps > _MAX_STEPS:
        return None
    tag = f"scan{next(counter)}"
    nodes = []
    state = list(node.input[:n_state])
    collected: list[list[str]] = [[] for _ in range(n_out)]
    body_inputs = [i.name for i in body.input]
    shared, local = _hoist_constants(body, graph, tag)
    for t in range(steps):
        names = dict(shared)
        for name, value in zip(body_inputs[:n_state], state):
            names[name] = value
        for j, (name, axis, direction) in enumerate(zip(scan_names, in_axes, in_dirs)):
            index = steps - 1 - t if direction else t
            index_name = f"{tag}/t{t}/index{j}"
            graph.initializer.append(numpy_helper.from_array(np.array(index, np.int64),
                                                             index_name))
            sliced = f"{tag}/t{t}/in{j}"
            rank = len(shapes[name])
            nodes.append(helper.make_node("Gather", [name, index_name], [sliced],
                                          axis=axis % rank, name=f"{tag}/t{t}/slice{j}"))
            names[body_inputs[n_state + j]] = sliced
        nodes.extend(_copy_step(body, names, local, f"{tag}/t{t}"))
        outputs = [names.get(o.name, o.name) for o in body.output]
        state = outputs[:n_state]
        for j, value in enumerate(outputs[n_state:]):
            collected[j].append(value)
    # final states, then the stacked scan outputs, under the Scan's own output names
    nodes.extend(_final_states(state, node.output[:n_state], tag))
    for j, out in enumerate(node.output[n_state:]):
        if not out:
            continue
        values = collected[j][::-1] if out_dirs[j] else collected[j]
        rank = _rank(body.output[n_state + j]) + 1
        axis = out_axes[j] % rank if rank else 0
        nodes.extend(_stack(values, out, axis, f"{tag}/out{j}", graph, opset))
    return nodes


def _hoist_constants(body, graph, tag: str) -> tuple[dict[str, str], set[str]]:
    """The body's constants added to the main graph once, shared by every step (their new
    names), and the names local to the body (renamed per step)."""
    for init in body.initializer:
        copy = onnx.TensorProto()
        copy.CopyFrom(init)
        copy.name = f"{tag}/{init.name}"
        graph.initializer.append(copy)
    shared = {init.name: f"{tag}/{init.name}" for init in body.initializer}
    local = {init.name for init in body.initializer} | {o for n in body.node for o in n.output} \
        | {i.name for i in body.input}
    return shared, local


def _copy_step(body, names: dict[str, str], local: set[str], prefix: str) -> list:
    """The body's nodes for one step: inputs from ``names`` (updated with the step's outputs),
    other body-local values under ``prefix``; values of the enclosing graph keep their names."""
    nodes = []
    for k, body_node in enumerate(body.node):
        copy = onnx.NodeProto()
        copy.CopyFrom(body_node)
        copy.name = f"{prefix}/{body_node.name or k}"
        for i, value in enumerate(copy.input):
            if value in names:
                copy.input[i] = names[value]
            elif value in local:
                copy.input[i] = f"{prefix}/{value}"
        for i, value in enumerate(copy.output):
            if value:
                names[value] = copy.output[i] = f"{prefix}/{value}"
        nodes.append(copy)
    return nodes


def _final_states(state: list[str], outputs, tag: str) -> list:
    return [helper.make_node("Identity", [value], [out], name=f"{tag}/state/{out}")
            for value, out in zip(state, outputs) if out]


def _stack(values: list[str], out: str, axis: int, prefix: str, graph, opset: int) -> list:
    """``values`` stacked along a new ``axis`` into ``out`` (Unsqueeze + Concat)."""
    axis_name = f"{prefix}/axes"
    if opset >= 13:
        graph.initializer.append(numpy_helper.from_array(np.array([axis], np.int64), axis_name))
    nodes, parts = [], []
    for t, value in enumerate(values):
        part = f"{prefix}/stack/{t}"
        if opset >= 13:
            nodes.append(helper.make_node("Unsqueeze", [value, axis_name], [part],
                                          name=f"{prefix}/unsqueeze/{t}"))
        else:
            nodes.append(helper.make_node("Unsqueeze", [value], [part], axes=[axis],
                                          name=f"{prefix}/unsqueeze/{t}"))
        parts.append(part)
    nodes.append(helper.make_node("Concat", parts, [out], axis=axis, name=f"{prefix}/concat"))
    return nodes


def _rank(value) -> int:
    return len(value.type.tensor_type.shape.dim)


def _constant(graph, name: str):
    for init in graph.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    return None


def _passes_condition_through(body) -> bool:
    cond_in, cond_out = body.input[1].name, body.output[0].name
    if cond_out == cond_in:
        return True
    for node in body.node:
        if cond_out in node.output:
            if node.op_type == "Identity" and list(node.input) == [cond_in]:
                return True
            if node.op_type == "Constant" and node.attribute and \
                    node.attribute[0].type == onnx.AttributeProto.TENSOR:
                return bool(np.all(numpy_helper.to_array(node.attribute[0].t)))
            return False
    value = _constant(body, cond_out)
    return value is not None and bool(np.all(value))


def _unroll_loop(node, shapes, graph, counter, opset: int = 13):
    body = _attr(node, "body", None)
    if body is None or not node.input or not node.input[0] or any(
            a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
            for n in body.node for a in n.attribute):
        return None
    trips = _constant(graph, node.input[0])
    cond = _constant(graph, node.input[1]) if len(node.input) > 1 and node.input[1] else True
    if trips is None or cond is None or not bool(np.all(cond)) or \
            not _passes_condition_through(body):
        return None
    steps = int(np.asarray(trips).reshape(-1)[0])
    if steps < 1 or steps > _MAX_STEPS:
        return None
    n_state = len(node.input) - 2
    n_out = len(body.output) - 1 - n_state
    tag = f"loop{next(counter)}"
    true_name = f"{tag}/true"
    graph.initializer.append(numpy_helper.from_array(np.array(True), true_name))
    body_inputs = [i.name for i in body.input]
    shared, local = _hoist_constants(body, graph, tag)
    state = list(node.input[2:])
    collected: list[list[str]] = [[] for _ in range(n_out)]
    nodes = []
    for t in range(steps):
        names = dict(shared)
        step_name = f"{tag}/t{t}/iteration"
        graph.initializer.append(numpy_helper.from_array(np.array(t, np.int64), step_name))
        names[body_inputs[0]] = step_name
        names[body_inputs[1]] = true_name
        for name, value in zip(body_inputs[2:], state):
            names[name] = value
        nodes.extend(_copy_step(body, names, local, f"{tag}/t{t}"))
        outputs = [names.get(o.name, o.name) for o in body.output[1:]]
        state = outputs[:n_state]
        for j, value in enumerate(outputs[n_state:]):
            collected[j].append(value)
    nodes.extend(_final_states(state, node.output[:n_state], tag))
    for j, out in enumerate(node.output[n_state:]):
        if out:
            nodes.extend(_stack(collected[j], out, 0, f"{tag}/out{j}", graph, opset))
    return nodes


def check_loops(model: onnx.ModelProto, origin: str) -> None:
    """A Loop left after unrolling (its trip count and condition constant, as the shape check
    made sure): one whose body changes the condition, or with sub-graphs inside, is refused."""
    from edgec.errors import UnsupportedModelError

    for index, node in enumerate(model.graph.node):
        if node.op_type == "Loop" and node.domain in ("", "ai.onnx"):
            label = node.name or f"#{index}"
            raise UnsupportedModelError(
                f"Loop node '{label}' of model '{origin}' cannot be unrolled: edgec unrolls a "
                "Loop whose trip count is a constant (at most "
                f"{_MAX_STEPS}) and whose condition stays true (its body passes it through); "
                "this one computes its condition, has no trip count or has sub-graphs inside")
