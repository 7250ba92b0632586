"""What calibration puts in the model besides ranges: which tensors are quantized (only those an
int8 layer reads), the switchable form the accuracy budget runs, and bias correction."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgec
from edgec.quantize.calibrate import _Chain, bias_correction
from edgec.quantize.evaluate import Evaluator


def _save(path, name: str, nodes, inits, x_shape, y_shape) -> str:
    """A one-input (``x``), one-output (``y``) float model of ``nodes``, opset 17, saved."""
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return str(path)


def _conv_affine_conv(path) -> str:
    """x -> conv 3x3 -> relu -> (x 0.5 + 0.25) -> conv 3x3 -> y: the relu's output is a layer's
    end that only float operators read; the affine's output (which the padded conv cannot
    absorb) is what the second conv reads."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3,
                                     "w1"),
             numpy_helper.from_array(rng.standard_normal(8).astype(np.float32) * 0.1, "b1"),
             numpy_helper.from_array(np.float32(0.5).reshape(()), "a"),
             numpy_helper.from_array(np.float32(0.25).reshape(()), "c"),
             numpy_helper.from_array(rng.standard_normal((4, 8, 3, 3)).astype(np.float32) * 0.2,
                                     "w2")]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Mul", ["r1", "a"], ["m1"]),
             helper.make_node("Add", ["m1", "c"], ["s1"]),
             helper.make_node("Conv", ["s1", "w2"], ["y"], pads=[1, 1, 1, 1])]
    return _save(path, "conv_affine_conv", nodes, inits, [1, 3, 16, 16], [1, 4, 16, 16])


def _samples(count=16, seed=0):
    rng = np.random.default_rng(seed)
    return [{"x": rng.standard_normal((1, 3, 16, 16)).astype(np.float32)} for _ in range(count)]


def test_only_what_an_int8_layer_reads_is_quantized(tmp_path):
    model = _conv_affine_conv(tmp_path / "m.onnx")
    artifact = edgec.compile(model, "host", tuning_logs=False, quantize="int8",
                             calibration=_samples())
    entry = artifact.report.quantization
    assert sum(entry["int8_kernels"].values()) == 2
    tensors = entry["tensors"]
    # the model input, the relu's output (measured), the affine's output
    assert len(tensors) == 3
    assert [t["quantized"] for t in tensors].count(False) == 1
    ends = {layer["output"] for layer in entry["layers"]}
    (unquantized,) = [t for t in tensors if not t["quantized"]]
    assert unquantized["name"] in ends
    # one rounding less on the way to the second conv: closer to float than before
    x = _samples(4, seed=7)
    fp32 = edgec.compile(model, "host", tuning_logs=False)
    for sample in x:
        want = fp32.run(sample)["y"]
        got = artifact.run(sample)["y"]
        assert np.sqrt(np.mean((got - want) ** 2)) < 0.02 * np.sqrt(np.mean(want ** 2)) + 0.02


def test_switchable_form_is_float_at_0_and_int8_at_1(tmp_path, monkeypatch):
    """The budget's trials run one build whose quantization is switched at run time: all off
    must be the float model, all on the int8 one."""
    runs = []
    original = Evaluator.runner

    def spy(self, mod):
        run = original(self, mod)
        runs.append((mod, run))
        return run

    monkeypatch.setattr(Evaluator, "runner", spy)
    model = _conv_affine_conv(tmp_path / "m.onnx")
    evaluation = _samples(3, seed=5)
    artifact = edgec.compile(model, "host", tuning_logs=False, quantize="int8",
                             calibration=_samples(), evaluation=evaluation)
    (_, float_run), (switchable, switched_run) = runs
    width = int(switchable["main"].params[-1].ty.shape[0])
    reference = float_run()
    np.testing.assert_allclose(switched_run(np.zeros(width, np.float32)), reference,
                               rtol=1e-5, atol=1e-5)
    int8 = switched_run(np.ones(width, np.float32))
    assert np.abs(int8 - reference).max() > 1e-3
    kernels = np.stack([artifact.run(s)["y"] for s in evaluation])
    # the integer kernels and their float emulation differ by at most rounding steps
    assert np.abs(kernels - int8).max() < 0.1 * np.abs(reference).max()
    ev = artifact.report.quantization["evaluation"]
    error = np.sqrt(np.sum((int8 - reference) ** 2) / np.sum(reference ** 2))
    assert ev["int8_value"] == pytest.approx(error, rel=1e-4)


def test_bias_correction_is_the_mean_error_of_a_window():
    """On an input that is constant per channel, a window's int8 result minus its float result
    is exactly what bias_correction returns (grouped conv and matmul)."""
    rng = np.random.default_rng(3)
    weight = rng.standard_normal((6, 2, 3, 3)).astype(np.float32)          # 3 groups of 2
    restored = weight + rng.uniform(-0.01, 0.01, weight.shape)
    x = rng.standard_normal(6)
    xq = x + rng.uniform(-0.02, 0.02, 6)
    chain = _Chain(None, 0, None, None)
    got = bias_correction(chain, weight, restored, (x, xq))
    want = np.zeros(6)
    for o in range(6):
        group = o // 2
        for j in range(2):
            c = group * 2 + j
            want[o] += restored[o, j].sum() * xq[c] - weight[o, j].sum() * x[c]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)

    matrix = rng.standard_normal((5, 4)).astype(np.float32)                # [K, N]
    restored = matrix + rng.uniform(-0.01, 0.01, matrix.shape)
    x, xq = rng.standard_normal(5), rng.standard_normal(5)
    got = bias_correction(_Chain(None, 1, None, None), matrix, restored, (x, xq))
    np.testing.assert_allclose(got, restored.T @ xq - matrix.T @ x, rtol=1e-4, atol=1e-6)


def _edge_detector(path) -> str:
    """A depthwise 3x3 whose taps sum to almost 0 (a difference filter), on a bright page: the
    rounding of its taps gives it a DC response that float does not have."""
    taps = np.array([[0.43, -2.08, 0.41], [-1.91, -3.91, -1.62], [1.48, 5.97, 1.23]], np.float32)
    weight = np.stack([taps * (1 + 0.1 * c) for c in range(4)])[:, None]
    weight -= weight.mean(axis=(2, 3), keepdims=True) - 0.0005      # sum ~ 0.0045 per channel
    inits = [numpy_helper.from_array(weight.astype(np.float32), "w")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], group=4)]
    return _save(path, "edges", nodes, inits, [1, 4, 12, 12], [1, 4, 10, 10])


def test_bias_correction_removes_the_mean_error(tmp_path):
    model = _edge_detector(tmp_path / "edges.onnx")
    rng = np.random.default_rng(1)

    def page(seed):
        r = np.random.default_rng(seed)
        x = np.full((1, 4, 12, 12), 9.0, np.float32)
        x[..., 4:7, 3:9] -= r.uniform(0, 6, (1, 4, 3, 6)).astype(np.float32)   # some ink
        return {"x": x}

    calib = [page(s) for s in range(16)]
    fp32 = edgec.compile(model, "host", tuning_logs=False)
    plain, corrected = (edgec.compile(model, "host", tuning_logs=False, quantize="int8",
                                      calibration=calib, bias_correction=on)
                        for on in (False, True))
    test = [page(100 + s) for s in range(4)] + [{"x": rng.uniform(8, 9, (1, 4, 12, 12))
                                                 .astype(np.float32)}]
    bias = [np.mean([np.mean(a.run(s)["y"] - fp32.run(s)["y"], axis=(0, 2, 3)) for s in test],
                    axis=0) for a in (plain, corrected)]
    assert np.abs(bias[1]).max() < 0.5 * np.abs(bias[0]).max()


def _residual_block(path) -> str:
    """x -> conv1 3x3 + relu = r -> conv2 3x3 = c -> relu(r + c) = s -> conv3 1x1 -> y: an int8
    layer reads the residual add's result, so the add runs on int8 and conv2 writes int8."""
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3,
                                     "w1"),
             numpy_helper.from_array(rng.standard_normal((8, 8, 3, 3)).astype(np.float32) * 0.1,
                                     "w2"),
             numpy_helper.from_array(rng.standard_normal(8).astype(np.float32) * 0.1, "b2"),
             numpy_helper.from_array(rng.standard_normal((4, 8, 1, 1)).astype(np.float32) * 0.3,
                                     "w3")]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r"]),
             helper.make_node("Conv", ["r", "w2", "b2"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["r", "c"], ["a"]),
             helper.make_node("Relu", ["a"], ["s"]),
             helper.make_node("Conv", ["s", "w3"], ["y"])]
    return _save(path, "residual", nodes, inits, [1, 3, 16, 16], [1, 4, 16, 16])


def test_residual_add_stays_in_the_conv_epilogue_by_default(tmp_path):
    """The add reads conv2's float accumulator (fused into its kernel) and r in int8, and
    writes int8 for conv3: one rounding."""
    model = _residual_block(tmp_path / "m.onnx")
    artifact = edgec.compile(model, "host", tuning_logs=False, quantize="int8",
                             calibration=_samples())
    entry = artifact.report.quantization
    assert entry["int8_kernels"] == {"conv2d": 1, "conv2d (float output)": 2}
    assert [t["quantized"] for t in entry["tensors"]] == [True, True, False, True]


def test_residual_add_runs_on_int8(tmp_path):
    model = _residual_block(tmp_path / "m.onnx")
    artifact = edgec.compile(model, "host", tuning_logs=False, quantize="int8",
                             calibration=_samples(), int8_adds=True)
    entry = artifact.report.quantization
    assert entry["int8_adds"]
    assert entry["int8_kernels"] == {"conv2d": 2, "conv2d (float output)": 1, "add": 1}
    assert entry["float_fallbacks"] == {}
    # x, r (conv2's input, conv1's end), c (conv2's end, an operand of the add), s: all int8
    assert len(entry["tensors"]) == 4
    assert all(t["quantized"] for t in entry["tensors"])
    fp32 = edgec.compile(model, "host", tuning_logs=False)
    for sample in _samples(4, seed=7):
        want = fp32.run(sample)["y"]
        got = artifact.run(sample)["y"]
        assert np.sqrt(np.mean((got - want) ** 2)) < 0.03 * np.sqrt(np.mean(want ** 2)) + 0.02
