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


def _unary_model(op: str, dtype, opset: int = 18, **attrs):
    elem = {np.float32: 1, np.float16: 10}[dtype]
    nodes = [helper.make_node(op, ["x"], ["y"], **attrs)]
    out_elem = 9 if op == "IsInf" else elem
    return make_model(nodes, [tensor("x", [64], elem)], [tensor("y", [64], out_elem)],
                      opset=opset)


def _compile_run(model, x):
    artifact = edgec.compile(model, "host", tuning_logs=False)
    return artifact.run({"x": x})["y"]


def test_softplus_and_mish_keep_their_precision_for_negative_inputs():
    """log(1 + exp(x)) in float32 loses most digits below x = -10 (relative error 1e-3 and
    worse); edgec's softplus and mish stay within a few ulps of the float64 result."""
    x = np.linspace(-30, 30, 64).astype(np.float32)
    x64 = x.astype(np.float64)
    softplus = np.log1p(np.exp(x64))
    got = _compile_run(_unary_model("Softplus", np.float32), x)
    np.testing.assert_allclose(got, softplus, rtol=2e-6)
    mish = x64 * np.tanh(softplus)
    np.testing.assert_allclose(_compile_run(_unary_model("Mish", np.float32), x), mish,
                               rtol=2e-6, atol=1e-30)


def test_float16_mish_has_no_overflow():
    x = np.linspace(-12, 12, 64).astype(np.float16)
    x64 = x.astype(np.float64)
    got = _compile_run(_unary_model("Mish", np.float16), x)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got.astype(np.float64), x64 * np.tanh(np.log1p(np.exp(x64))),
                               rtol=2.0 ** -9, atol=1e-4)


def test_isinf_honours_detect_positive_and_negative():
    x = np.zeros(64, np.float32)
    x[:3] = [np.inf, -np.inf, np.nan]
    for positive, negative in ((1, 0), (0, 1), (0, 0), (1, 1)):
        got = _compile_run(_unary_model("IsInf", np.float32, opset=17,
                                        detect_positive=positive, detect_negative=negative), x)
        want = (np.isposinf(x) & bool(positive)) | (np.isneginf(x) & bool(negative))
        np.testing.assert_array_equal(got, want)
