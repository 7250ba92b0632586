"""--freeze-input: model inputs that decide a shape (a Reshape's shape, TopK's k) are refused
with the flag to use, and once frozen compile and agree with ONNX Runtime fed the same values."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import edgec
from edgec.errors import OptionError, UnsupportedModelError
from edgec.reference import OrtReference
from tests.conftest import run_cli


def _model(path=None) -> onnx.ModelProto:
    """y = TopK(Reshape(x, shape) * 2, k): two inputs that are constants in practice."""
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["r"], name="reshape"),
             helper.make_node("Add", ["r", "r"], ["d"]),
             helper.make_node("TopK", ["d", "k"], ["values", "indices"], name="topk")]
    graph = helper.make_graph(
        nodes, "frozen",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 12]),
         helper.make_tensor_value_info("shape", TensorProto.INT64, [2]),
         helper.make_tensor_value_info("k", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info("values", TensorProto.FLOAT, ["a", "b"]),
         helper.make_tensor_value_info("indices", TensorProto.INT64, ["a", "b"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if path is not None:
        onnx.save(model, path)
    return model


def test_a_shape_from_an_input_is_refused_with_the_flag():
    with pytest.raises(UnsupportedModelError,
                       match=r"Reshape node 'reshape' .* input 'shape' .* --freeze-input shape="):
        edgec.compile(_model().SerializeToString(), "host", tuning_logs=False)


def test_frozen_inputs_compile_and_match_onnxruntime(tmp_path):
    model = _model()
    artifact = edgec.compile(model.SerializeToString(), "host", tuning_logs=False,
                             freeze_inputs={"shape": [3, 4], "k": 2})
    assert [s.name for s in artifact.signature.inputs] == ["x"]
    assert artifact.manifest.model["frozen_inputs"] == ["shape", "k"]
    x = np.random.default_rng(0).standard_normal((1, 12)).astype(np.float32)
    want = OrtReference(model.SerializeToString()).run(
        {"x": x, "shape": np.array([3, 4], np.int64), "k": np.array([2], np.int64)})
    got = artifact.run({"x": x})
    np.testing.assert_allclose(got["values"], want["values"], rtol=1e-6)
    np.testing.assert_array_equal(got["indices"], want["indices"])
    # the same from strings (the CLI's form), a .npy file included
    np.save(tmp_path / "shape.npy", np.array([3, 4], np.int64))
    again = edgec.compile(model.SerializeToString(), "host", tuning_logs=False,
                          freeze_inputs=[f"shape={tmp_path / 'shape.npy'}", "k=2"])
    np.testing.assert_array_equal(again.run({"x": x})["indices"], want["indices"])


@pytest.mark.parametrize("freeze, message", [
    ({"shape": [3, 4], "q": 1}, "has no such input; its inputs are: x, shape, k"),
    ({"shape": [3, 4, 1], "k": 2}, "input 'shape' has shape [2] (2 values), the value given "
                                   "has 3"),
    ({"shape": [3, 4], "k": 2.5}, "input 'k' is int64, the value given is not whole numbers"),
    (["shape"], "expected NAME=VALUE"),
    (["shape=3,four", "k=2"], "not a number or a comma-separated list"),
    (["shape=missing.npy", "k=2"], "no such file"),
])
def test_freeze_mistakes_are_one_clear_error(freeze, message):
    with pytest.raises(OptionError) as err:
        edgec.compile(_model().SerializeToString(), "host", tuning_logs=False,
                      freeze_inputs=freeze)
    assert message in str(err.value)


def test_every_input_frozen_gives_a_constant_model():
    """A model whose every input is frozen computes constants (a window, a range): it
    compiles to a function of no inputs."""
    x = np.arange(12, dtype=np.float32).reshape(1, 12)
    artifact = edgec.compile(_model().SerializeToString(), "host", tuning_logs=False,
                             freeze_inputs={"shape": [3, 4], "k": 2, "x": x})
    assert artifact.signature.inputs == ()
    want = OrtReference(_model().SerializeToString()).run(
        {"x": x, "shape": np.array([3, 4], np.int64), "k": np.array([2], np.int64)})
    got = artifact.run({})
    for key, value in want.items():
        np.testing.assert_array_equal(got[key], value)


def test_cli_freeze_input(tmp_path):
    path = tmp_path / "m.onnx"
    _model(path)
    refused = run_cli("compile", path, "-o", tmp_path / "a.edgec.tar")
    assert refused.returncode != 0 and "--freeze-input shape=" in refused.stderr
    assert not (tmp_path / "a.edgec.tar").exists()
    result = run_cli("compile", path, "--freeze-input", "shape=3,4", "--freeze-input", "k=2",
                     "-o", tmp_path / "a.edgec.tar")
    assert result.returncode == 0, result.stderr
    assert edgec.load(tmp_path / "a.edgec.tar").manifest.model["frozen_inputs"] == ["shape", "k"]


def test_a_shape_computed_from_an_input_shape_is_not_refused():
    """Reshape(x, Concat(Shape(x)[:1], [-1])) reads x's (static) shape, not its values."""
    nodes = [helper.make_node("Shape", ["x"], ["s"], end=1),
             helper.make_node("Concat", ["s", "minus_one"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["y"])]
    graph = helper.make_graph(
        nodes, "shape_of", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 12])],
        [onnx.numpy_helper.from_array(np.array([-1], np.int64), "minus_one")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    artifact = edgec.compile(model.SerializeToString(), "host", tuning_logs=False)
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(artifact.run({"x": x})["y"], x.reshape(2, 12))
