"""Models quantized by ONNX Runtime (QDQ and QOperator) compile to int8 kernels and give
ONNX Runtime's numbers: those of the model as ONNX defines it (ORT with its graph optimizations
off runs QuantizeLinear / DequantizeLinear and float operators; for a QOperator model, its QDQ
twin from the same calibration), and on CPUs with VNNI those of
ORT's fused int8 kernels too. Without VNNI, ORT's x86 kernels multiply with pmaddubsw, which
saturates int16 pairs on full-range int8 data: they differ from the model by many steps (seen:
29 output steps on an AVX2 CPU) and edgec, exact there, cannot agree with them."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import edgec


def _output_step(path: str) -> float:
    """The quantization step of the model's output (its last DequantizeLinear's scale)."""
    model = onnx.load(path)
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    out = model.graph.output[0].name
    for node in model.graph.node:
        if node.output[0] == out and node.op_type == "DequantizeLinear":
            return float(inits[node.input[1]])
    raise AssertionError("the quantized model's output is not dequantized")


@pytest.mark.parametrize("fmt", ["qdq", "qoperator"])
@pytest.mark.parametrize("activation", ["int8", "uint8"])
def test_int8_kernels_agree_with_onnxruntime(ort_quantized, fmt, activation):
    path = ort_quantized(fmt, activation)
    artifact = edgec.compile(path, "host", tuning_logs=False)
    rewrites = artifact.report.rewrites
    assert rewrites.get("int8 conv2d") == 3 and rewrites.get("int8 matmul") == 1
    assert not [k for k in rewrites if k.startswith("quantized operator kept in float")]
    step = _output_step(path)
    # the model's definition: the QDQ form run as written (a QOperator model's QLinearConv is
    # one ORT kernel even unoptimized; its QDQ twin has the same parameters)
    references = [_session(ort_quantized("qdq", activation), optimized=False)]
    if _cpu_has_vnni():
        references.append(_session(path, optimized=True))
    rng = np.random.default_rng(5)
    for session in references:
        exact = []
        for _ in range(8):
            x = rng.standard_normal((1, 3, 16, 16)).astype(np.float32)
            want = session.run(None, {"x": x})[0]
            got = artifact.run({"x": x})["y"]
            assert np.abs(got - want).max() <= step * 1.001
            exact.append(np.mean(np.abs(got - want) < step / 2))
        assert np.mean(exact) >= 0.95


def _session(path: str, optimized: bool) -> ort.InferenceSession:
    options = ort.SessionOptions()
    if not optimized:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def _cpu_has_vnni() -> bool:
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


def test_quantized_weights_are_stored_as_int8(ort_quantized, float_cnn):
    fp32 = edgec.compile(float_cnn, "host", tuning_logs=False).report
    int8 = edgec.compile(ort_quantized("qdq", "int8"), "host", tuning_logs=False).report
    assert int8.after.weight_bytes < fp32.after.weight_bytes / 2.5


def test_qoperator_nodes_are_known_to_the_operator_check(ort_quantized):
    from edgec.frontend.support import supported_ops

    model = onnx.load(ort_quantized("qoperator", "int8"))
    assert {n.op_type for n in model.graph.node} <= supported_ops()


def test_per_channel_qdq_below_opset_13_is_a_clear_error(tmp_path):
    """ONNX Runtime writes per-channel ``axis`` even into opset-11 models; ONNX defines it
    from opset 13 only, so the checker refuses the file: the error says what to do."""
    from onnx import helper

    from edgec.errors import ModelError
    from tests.onnx_models import make_model, tensor

    w = np.ones((2, 3), np.int8)
    model = make_model(
        [helper.make_node("DequantizeLinear", ["w", "s", "z"], ["wf"], axis=0),
         helper.make_node("MatMul", ["x", "wf"], ["y"])],
        [tensor("x", [1, 2])], [tensor("y", [1, 3])],
        {"w": w, "s": np.ones(2, np.float32), "z": np.zeros(2, np.int8)}, opset=11)
    with pytest.raises(ModelError, match="convert the float model to opset 13"):
        edgec.compile(model, "host")
