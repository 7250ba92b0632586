"""edgec's own ONNX converters: Clip with constant bounds imports as one R.clip."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from onnx import helper

import edgec
from edgec.frontend import import_onnx
from tests.onnx_models import make_model, tensor


def _clip_model(opset: int, computed_bound: bool = False):
    if opset < 11:
        nodes = [helper.make_node("Clip", ["x"], ["y"], min=0.0, max=6.0)]
        inits = {}
    elif computed_bound:
        nodes = [helper.make_node("ReduceMax", ["x"], ["hi"], keepdims=0),
                 helper.make_node("Clip", ["x", "lo", "hi"], ["y"])]
        inits = {"lo": np.array(0.0, np.float32)}
    else:
        nodes = [helper.make_node("Clip", ["x", "lo", "hi"], ["y"])]
        inits = {"lo": np.array(0.0, np.float32), "hi": np.array(6.0, np.float32)}
    return make_model(nodes, [tensor("x", [2, 5])], [tensor("y", [2, 5])], inits, opset=opset)


def test_constant_bounds_import_as_one_clip():
    for opset in (13, 17):
        text = import_onnx(_clip_model(opset)).mod.script()
        assert "R.clip(x, T.float64(0.0), T.float64(6.0))" in text and "call_tir" not in text


def test_old_attribute_form_and_computed_bounds(tmp_path):
    x = np.linspace(-3, 9, 10, dtype=np.float32).reshape(2, 5)
    for model in (_clip_model(13, computed_bound=True), _clip_model(17)):
        artifact = edgec.compile(model, "host")
        want = ort.InferenceSession(model.SerializeToString(),
                                    providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        np.testing.assert_allclose(artifact.run({"x": x})["y"], want)
    old = import_onnx(_clip_model(10)).mod.script()  # converted to opset 13 on import
    assert "R.clip" in old
