"""Scan unrolled over its static length: states, scan inputs and outputs on other axes and in
reverse, values the body reads from the enclosing graph; Loop unrolled over its constant trip
count; compared with ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import edgec
from edgec.frontend.coverage import FOLDED, check_model
from edgec.reference import OrtReference


def _scan_model() -> onnx.ModelProto:
    """state' = state + x_t * w (w from the outer graph); y_t = tanh(state'), stacked on axis 1
    in reverse; the scan input is read along axis 1, backwards."""
    f = TensorProto.FLOAT
    body = helper.make_graph(
        [helper.make_node("Mul", ["x_t", "w"], ["xw"]),
         helper.make_node("Add", ["state", "xw"], ["state_out"]),
         helper.make_node("Tanh", ["state_out"], ["y_t"])],
        "body",
        [helper.make_tensor_value_info("state", f, [2, 3]),
         helper.make_tensor_value_info("x_t", f, [2, 3])],
        [helper.make_tensor_value_info("state_out", f, [2, 3]),
         helper.make_tensor_value_info("y_t", f, [2, 3])])
    scan = helper.make_node("Scan", ["init", "x"], ["final", "ys"], body=body,
                            num_scan_inputs=1, scan_input_axes=[1],
                            scan_input_directions=[1], scan_output_axes=[1],
                            scan_output_directions=[1])
    graph = helper.make_graph(
        [scan], "scan",
        [helper.make_tensor_value_info("init", f, [2, 3]),
         helper.make_tensor_value_info("x", f, [2, 5, 3])],
        [helper.make_tensor_value_info("final", f, [2, 3]),
         helper.make_tensor_value_info("ys", f, [2, 5, 3])],
        [numpy_helper.from_array(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_unrolled_scan_agrees_with_onnxruntime():
    data = _scan_model().SerializeToString()
    rng = np.random.default_rng(0)
    feeds = {"init": rng.standard_normal((2, 3)).astype(np.float32),
             "x": rng.standard_normal((2, 5, 3)).astype(np.float32)}
    artifact = edgec.compile(data, "host", tuning_logs=False)
    got, want = artifact.run(feeds), OrtReference(data).run(feeds)
    for key in ("final", "ys"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6)


def test_check_model_reports_the_scan_as_unrolled():
    report = check_model(_scan_model().SerializeToString())
    assert {e.op_type: e.status for e in report.operators}["Scan"] == FOLDED
    assert report.compiles


def _loop_model(condition_from_body: bool = False) -> onnx.ModelProto:
    """Four steps of ``acc' = acc * 0.5 + x[i]`` (i the iteration number), each step's ``acc'``
    stacked as a scan output; the condition passed through (or computed: ``max(acc') < 10``)."""
    f, b, i64 = TensorProto.FLOAT, TensorProto.BOOL, TensorProto.INT64
    cond = helper.make_node("Less", ["top", "ten"], ["cond_out"]) if condition_from_body \
        else helper.make_node("Identity", ["cond_in"], ["cond_out"])
    body = helper.make_graph(
        [helper.make_node("Gather", ["x", "i"], ["x_i"], axis=0),
         helper.make_node("Mul", ["acc", "half"], ["scaled"]),
         helper.make_node("Add", ["scaled", "x_i"], ["acc_out"]),
         helper.make_node("ReduceMax", ["acc_out"], ["top"], keepdims=0),
         helper.make_node("Identity", ["acc_out"], ["step_out"]),
         cond],
        "body",
        [helper.make_tensor_value_info("i", i64, []),
         helper.make_tensor_value_info("cond_in", b, []),
         helper.make_tensor_value_info("acc", f, [3])],
        [helper.make_tensor_value_info("cond_out", b, []),
         helper.make_tensor_value_info("acc_out", f, [3]),
         helper.make_tensor_value_info("step_out", f, [3])],
        [numpy_helper.from_array(np.array(0.5, np.float32), "half"),
         numpy_helper.from_array(np.array(10.0, np.float32), "ten")])
    loop = helper.make_node("Loop", ["M", "", "acc0"], ["acc_final", "steps"], body=body)
    graph = helper.make_graph(
        [loop], "loop",
        [helper.make_tensor_value_info("x", f, [4, 3]),
         helper.make_tensor_value_info("acc0", f, [3])],
        [helper.make_tensor_value_info("acc_final", f, [3]),
         helper.make_tensor_value_info("steps", f, [4, 3])],
        [numpy_helper.from_array(np.array(4, np.int64), "M")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_unrolled_loop_agrees_with_onnxruntime():
    model = _loop_model()
    rng = np.random.default_rng(3)
    feeds = {"x": rng.standard_normal((4, 3)).astype(np.float32),
             "acc0": rng.standard_normal(3).astype(np.float32)}
    artifact = edgec.compile(model, "host", tuning_logs=False)
    got = artifact.run(feeds)
    want = OrtReference(model.SerializeToString()).run(feeds)
    for name in ("acc_final", "steps"):
        np.testing.assert_allclose(got[name], want[name], rtol=1e-6, atol=1e-6)
    report = check_model(model.SerializeToString())
    assert {e.op_type: e.status for e in report.operators}["Loop"] == FOLDED
    assert report.compiles


def test_loop_that_computes_its_condition_is_refused():
    import pytest

    from edgec.errors import UnsupportedModelError

    with pytest.raises(UnsupportedModelError, match="Loop node .* cannot be unrolled"):
        edgec.compile(_loop_model(condition_from_body=True), "host", tuning_logs=False)
