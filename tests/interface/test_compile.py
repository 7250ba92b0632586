"""edgec.compile on graphs that stress the signature: several inputs and outputs, names
exporters produce, integer inputs."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

import edgec
from edgec.errors import InputShapeError
from edgec.reference import OrtReference, compare_outputs
from edgec.runtime.inputs import random_inputs
from tests.onnx_models import make_model, tensor


def _check(model, tmp_path, **kwargs):
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    artifact = edgec.compile(path, "host", **kwargs)
    loaded = edgec.load(artifact.save(tmp_path / "m.edgec.tar"))
    inputs = random_inputs(loaded.signature, seed=7)
    got = loaded.run(inputs)
    want = OrtReference(path).run(inputs)
    assert list(got) == list(want)
    assert compare_outputs(got, want, atol=1e-5, rtol=0).passed
    return loaded


def test_two_inputs_two_outputs_with_exporter_names(tmp_path):
    nodes = [helper.make_node("MatMul", ["input.1", "onnx::MatMul_0"], ["mm"], name="/MatMul"),
             helper.make_node("Add", ["mm", "bias.2"], ["out.sum"], name="/Add"),
             helper.make_node("Sigmoid", ["out.sum"], ["out.prob"], name="/Sigmoid")]
    model = make_model(nodes, [tensor("input.1", ["batch", 4]), tensor("bias.2", [1, 3])],
                       [tensor("out.prob", ["batch", 3]), tensor("out.sum", ["batch", 3])],
                       {"onnx::MatMul_0": np.arange(12, dtype=np.float32).reshape(4, 3) / 10})
    artifact = _check(model, tmp_path, input_shapes=["input.1:2,4"])
    assert artifact.signature.input_names == ["input.1", "bias.2"]
    assert artifact.signature.output_names == ["out.prob", "out.sum"]
    assert artifact.signature.outputs[0].shape == (2, 3)


def test_integer_input(tmp_path):
    nodes = [helper.make_node("Gather", ["table", "ids"], ["rows"], name="gather", axis=0),
             helper.make_node("ReduceSum", ["rows", "axes"], ["y"], name="sum", keepdims=0)]
    model = make_model(nodes, [tensor("ids", [1, 5], TensorProto.INT64)], [tensor("y", [1, 8])],
                       {"table": np.random.default_rng(0).random((10, 8), dtype=np.float32),
                        "axes": np.array([1], np.int64)})
    artifact = _check(model, tmp_path)
    assert artifact.signature.inputs[0].dtype == "int64"


def test_bad_input_shapes_argument(tmp_path):
    with pytest.raises(InputShapeError, match=r"input_shapes\['x'\] must be a sequence of ints"):
        edgec.compile(tmp_path / "m.onnx", "host", input_shapes={"x": "abc"})
