"""The ONNX clean-up: shape arithmetic folds away, values never change."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from edgec.frontend.fold_constants import fold_constants
from edgec.frontend.shapes import fix_input_shapes, resolve_input_specs
from tests.onnx_models import make_model, shape_reshape, tensor


def _run(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _static(model, shapes):
    specs = resolve_input_specs(model, shapes, "m")
    fix_input_shapes(model, specs)
    return model


def test_shape_arithmetic_becomes_a_constant_reshape():
    model = _static(shape_reshape(), {"x": (3, 2, 3, 4)})
    folded, report = fold_constants(model)
    ops = [n.op_type for n in folded.graph.node]
    assert ops == ["Reshape"]
    assert report.shapes_resolved == 1 and report.constants_promoted == 2
    assert report.identities_removed == 1 and report.folded["Gather"] == 1
    shape_init = {t.name: numpy_helper.to_array(t) for t in folded.graph.initializer}
    assert list(shape_init[folded.graph.node[0].input[1]]) == [3, -1]
    x = np.random.default_rng(0).random((3, 2, 3, 4), dtype=np.float32)
    np.testing.assert_array_equal(_run(model, {"x": x})[0], _run(folded, {"x": x})[0])


def test_no_match_leaves_graph_alone():
    model = make_model([helper.make_node("Relu", ["x"], ["y"], name="r")],
                       [tensor("x", [1, 4])], [tensor("y", [1, 4])])
    folded, report = fold_constants(model)
    assert [n.op_type for n in folded.graph.node] == ["Relu"]
    assert report.nodes_before == report.nodes_after == 1


def test_idempotent():
    once, _ = fold_constants(_static(shape_reshape(), {"x": (1, 2, 3, 4)}))
    twice, report = fold_constants(once)
    assert once.SerializeToString() == twice.SerializeToString()
    assert sum(report.folded.values()) == 0


def test_random_and_dequantize_are_not_folded():
    nodes = [
        helper.make_node("RandomUniform", [], ["r"], shape=[1, 4], seed=1.0, name="rand"),
        helper.make_node("DequantizeLinear", ["wq", "scale"], ["w"], name="dq"),
        helper.make_node("Add", ["x", "r"], ["s"], name="add"),
        helper.make_node("Mul", ["s", "w"], ["y"], name="mul"),
    ]
    model = make_model(nodes, [tensor("x", [1, 4])], [tensor("y", [1, 4])],
                       {"wq": np.array([[1, 2, 3, 4]], np.int8),
                        "scale": np.array(0.5, np.float32)})
    folded, _ = fold_constants(model)
    assert {n.op_type for n in folded.graph.node} == {"RandomUniform", "DequantizeLinear",
                                                      "Add", "Mul"}


def test_large_results_are_not_materialised():
    nodes = [helper.make_node("Expand", ["one", "shape"], ["big"], name="expand"),
             helper.make_node("Add", ["x", "big"], ["y"], name="add")]
    model = make_model(nodes, [tensor("x", [1024, 1024])], [tensor("y", [1024, 1024])],
                       {"one": np.ones([1], np.float32),
                        "shape": np.array([1024, 1024], np.int64)})
    folded, report = fold_constants(model)
    assert "Expand" in [n.op_type for n in folded.graph.node]
    assert report.skipped_large == 1


def test_dead_nodes_and_initializers_are_removed():
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="live"),
             helper.make_node("Neg", ["x"], ["unused"], name="dead")]
    model = make_model(nodes, [tensor("x", [1, 4])], [tensor("y", [1, 4])],
                       {"orphan": np.ones(3, np.float32)})
    folded, report = fold_constants(model)
    assert [n.name for n in folded.graph.node] == ["live"]
    assert not folded.graph.initializer and report.dead_removed == 1


@pytest.mark.parametrize("name", ["cls", "rec"])
def test_paddleocr_shape_subgraphs_fold_and_values_hold(paddleocr_models, name):
    from tests.conftest import PADDLEOCR

    model = onnx.load(paddleocr_models[name])
    shape = PADDLEOCR[name][1]
    _static(model, {"x": shape})
    folded, report = fold_constants(model)
    assert not any(n.op_type in ("Shape", "Constant") for n in folded.graph.node)
    assert report.nodes_after < report.nodes_before
    x = np.random.default_rng(1).random(shape, dtype=np.float32)
    np.testing.assert_allclose(_run(folded, {"x": x})[0], _run(model, {"x": x})[0],
                               rtol=0, atol=1e-6)


def _dropout_model(mask_is_output: bool, opset: int = 13, training=None, ratio=None):
    inits = {}
    inputs = ["g"]
    if ratio is not None or training is not None:
        inits["ratio"] = np.array(0.5 if ratio is None else ratio, np.float32)
        inputs.append("ratio")
    if training is not None:
        inits["training"] = np.array(training)
        inputs.append("training")
    nodes = [helper.make_node("Relu", ["x"], ["g"], name="relu"),
             helper.make_node("Dropout", inputs, ["d", "mask"], name="drop"),
             helper.make_node("Neg", ["d"], ["y"], name="neg")]
    outputs = [tensor("y", [2, 3])]
    if mask_is_output:
        outputs.append(tensor("mask", [2, 3], onnx.TensorProto.BOOL))
    return make_model(nodes, [tensor("x", [2, 3])], outputs, inits, opset=opset)


@pytest.mark.parametrize("training", [None, False])
def test_inference_dropout_and_its_unused_mask_disappear(training):
    model = _dropout_model(mask_is_output=False, training=training)
    folded, report = fold_constants(model)
    assert [n.op_type for n in folded.graph.node] == ["Relu", "Neg"]
    assert report.dropouts_removed == 1
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_array_equal(_run(model, {"x": x})[0], _run(folded, {"x": x})[0])


def test_a_dropout_mask_that_is_read_becomes_constant_true():
    model = _dropout_model(mask_is_output=True, ratio=0.0, training=True)
    folded, _ = fold_constants(model)
    assert "Dropout" not in [n.op_type for n in folded.graph.node]
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    want, got = _run(model, {"x": x}), _run(folded, {"x": x})
    assert got[1].dtype == np.bool_ and got[1].all()
    for w, g in zip(want, got):
        np.testing.assert_array_equal(w, g)


def test_training_mode_dropout_is_refused():
    from edgec.errors import UnsupportedModelError

    with pytest.raises(UnsupportedModelError, match="'drop' runs in training mode"):
        fold_constants(_dropout_model(mask_is_output=False, training=True, ratio=0.3))
    computed = _dropout_model(mask_is_output=False)
    computed.graph.node[1].input.extend(["ratio_in", "mode_in"])
    computed.graph.input.extend([tensor("ratio_in", [], onnx.TensorProto.FLOAT),
                                 tensor("mode_in", [], onnx.TensorProto.BOOL)])
    with pytest.raises(UnsupportedModelError, match="training_mode from 'mode_in'"):
        fold_constants(computed)


def test_if_on_a_constant_condition_becomes_its_branch():
    """An If whose condition folds to a constant (an exporter's shape test) is replaced by the
    chosen branch, whose own Constant (value_ints form) and outer-scope reads survive."""
    then_branch = helper.make_graph(
        [helper.make_node("Constant", [], ["two"], value_ints=[2]),
         helper.make_node("Mul", ["x", "two"], ["y_then"])],
        "then", [], [tensor("y_then", [2, 3])])
    else_branch = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["y_else"])], "else", [], [tensor("y_else", [2, 3])])
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("ReduceSum", ["s"], ["n"], keepdims=0),
             helper.make_node("Equal", ["n", "five"], ["cond"]),
             helper.make_node("Cast", ["x"], ["xi"], to=onnx.TensorProto.INT64),
             helper.make_node("If", ["cond"], ["y"], then_branch=_retarget(then_branch),
                              else_branch=_retarget(else_branch))]
    model = make_model(nodes, [tensor("x", [2, 3])], [tensor("y", [2, 3],
                                                             onnx.TensorProto.INT64)],
                       {"five": np.array(5, np.int64)})
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    folded, report = fold_constants(_static(model, {}))
    assert "If" not in [n.op_type for n in folded.graph.node]
    assert report.folded["If"] == 1
    np.testing.assert_array_equal(_run(folded, {"x": x})[0], _run(model, {"x": x})[0])


def _retarget(branch):
    """Branches compute on the int64 copy of x."""
    for node in branch.node:
        node.input[:] = ["xi" if i == "x" else i for i in node.input]
    for out in branch.output:
        out.type.tensor_type.elem_type = onnx.TensorProto.INT64
    return branch
