"""--quantize int8-dynamic / int8-weights / int4-weights on a transformer-style feed-forward
block (MatMul, Gemm): no calibration data, smaller weights, the numbers ONNX Runtime's own
dynamic quantizer gives, clear errors for options that do not go together."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgec
from edgec.errors import OptionError
from tests.conftest import run_cli

HIDDEN, INNER, TOKENS = 64, 256, 16


def feed_forward(gemm: bool = True, seed: int = 0) -> onnx.ModelProto:
    """x[TOKENS, HIDDEN] -> MatMul + Add -> Relu -> (Gemm transB | MatMul + Add) -> + x."""
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((HIDDEN, INNER)).astype(np.float32) / 8
    b1 = rng.standard_normal(INNER).astype(np.float32) / 10
    w2 = rng.standard_normal((INNER, HIDDEN)).astype(np.float32) / 16
    b2 = rng.standard_normal(HIDDEN).astype(np.float32) / 10
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]),
             helper.make_node("Add", ["h", "b1"], ["hb"]),
             helper.make_node("Relu", ["hb"], ["r"])]
    if gemm:
        nodes.append(helper.make_node("Gemm", ["r", "w2t", "b2"], ["y"], transB=1))
        second = [numpy_helper.from_array(np.ascontiguousarray(w2.T), "w2t")]
    else:
        nodes += [helper.make_node("MatMul", ["r", "w2"], ["y0"]),
                  helper.make_node("Add", ["y0", "b2"], ["y"])]
        second = [numpy_helper.from_array(w2, "w2")]
    nodes.append(helper.make_node("Add", ["y", "x"], ["out"]))
    graph = helper.make_graph(
        nodes, "ffn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [TOKENS, HIDDEN])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [TOKENS, HIDDEN])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"),
         numpy_helper.from_array(b2, "b2"), *second])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def ffn_path(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("ffn") / "ffn.onnx"
    onnx.save(feed_forward(), path)
    return str(path)


def _inputs(seed: int) -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(seed).standard_normal((TOKENS, HIDDEN)).astype(np.float32)}


def _float(path: str, inputs) -> np.ndarray:
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, inputs)[0]


@pytest.mark.parametrize(("mode", "shrink", "error"), [
    ("int8-dynamic", 3.5, 0.02), ("int8-weights", 3.5, 0.01), ("int4-weights", 5.5, 0.12)])
def test_modes_shrink_the_weights_and_stay_close_to_float(ffn_path, mode, shrink, error):
    float_artifact = edgec.compile(ffn_path, "host", tuning_logs=False)
    artifact = edgec.compile(ffn_path, "host", tuning_logs=False, quantize=mode)
    quant = artifact.manifest.pipeline["quantization"]
    assert quant["source"] == mode and sum(quant["int8_kernels"].values()) == 2
    ratio = float_artifact.report.after.weight_bytes / artifact.report.after.weight_bytes
    assert ratio > shrink, ratio
    for seed in range(3):
        inputs = _inputs(seed)
        want = _float(ffn_path, inputs)
        got = artifact.run(inputs)["out"]
        relative = np.sqrt(np.mean((got - want) ** 2) / np.mean(want ** 2))
        assert relative < error, (mode, relative)


def test_dynamic_int8_gives_onnxruntimes_dynamic_quantization(tmp_path):
    """ORT's quantize_dynamic (per-tensor int8 weights, DynamicQuantizeLinear + MatMulInteger)
    run as ONNX defines it (graph optimizations off): edgec's dynamic int8 with per-tensor
    weights computes the same operations in the same order."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    float_path = tmp_path / "ffn_matmul.onnx"
    onnx.save(feed_forward(gemm=False), float_path)
    ort_path = tmp_path / "ffn_dynamic.onnx"
    quantize_dynamic(str(float_path), str(ort_path), per_channel=False,
                     weight_type=QuantType.QInt8)
    assert "MatMulInteger" in {n.op_type for n in onnx.load(ort_path).graph.node}
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(ort_path), options, providers=["CPUExecutionProvider"])
    artifact = edgec.compile(float_path, "host", tuning_logs=False, quantize="int8-dynamic",
                             per_channel=False)
    for seed in range(3):
        inputs = _inputs(seed)
        want = session.run(None, inputs)[0]
        got = artifact.run(inputs)["out"]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_options_that_do_not_go_together(ffn_path):
    samples = [_inputs(i) for i in range(8)]
    with pytest.raises(OptionError, match="takes no calibration data; drop --calibration"):
        edgec.compile(ffn_path, "host", quantize="int8-dynamic", calibration=samples)
    with pytest.raises(OptionError, match="--group-size 3: int4 weights are grouped"):
        edgec.compile(ffn_path, "host", quantize="int4-weights", group_size=3)
    with pytest.raises(OptionError, match="--eval measures a model quantized with calibration"):
        edgec.compile(ffn_path, "host", quantize="int8-weights", evaluation=samples)
    with pytest.raises(OptionError, match="--quantize int16: not a quantization edgec knows"):
        edgec.compile(ffn_path, "host", quantize="int16", calibration=samples)


def test_cli_reports_the_mode(ffn_path, tmp_path):
    out = tmp_path / "ffn.int4.edgec.tar"
    result = run_cli("compile", ffn_path, "--quantize", "int4-weights", "--group-size", "64",
                     "--no-tuning-logs", "-o", out)
    assert result.returncode == 0, result.stderr
    assert "2 integer kernels, 0 kept in float; weight-only int4, groups of 64" in result.stdout
    report = run_cli("quantize-report", out)
    assert report.returncode == 0, report.stderr
