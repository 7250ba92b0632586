"""Post-training int8 from calibration data: the digits CNN (trained by the project) keeps its
accuracy with every calibration method, and the ranges and kernels are what they claim."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import edgec
from edgec.errors import OptionError
from edgec.quantize.ranges import Stats, int8_parameters, value_range, weight_parameters
from tests.conftest import DIGITS_DIR
from tests.quantize.conftest import calibration_samples, int8_convs

BATCH = 40


@pytest.fixture(scope="module")
def digits_data():
    spec = importlib.util.spec_from_file_location("digits_train", DIGITS_DIR / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    x_train, _, x_test, y_test = train.load_data()
    calib = x_train[: (len(x_train) // BATCH) * BATCH][: 16 * BATCH]
    return calib, x_test[: (len(x_test) // BATCH) * BATCH], y_test[: (len(x_test) // BATCH)
                                                                    * BATCH]


def _top1(artifact, images, labels) -> float:
    hits = 0
    for i in range(0, len(images), BATCH):
        logits = artifact.run({"input": images[i:i + BATCH]})["logits"]
        hits += int((logits.argmax(axis=1) == labels[i:i + BATCH]).sum())
    return hits / len(images)


@pytest.fixture(scope="module")
def fp32_top1(digits_model, digits_data):
    _, images, labels = digits_data
    artifact = edgec.compile(digits_model, "host", input_shapes={"input": (BATCH, 1, 8, 8)},
                             tuning_logs=False)
    return _top1(artifact, images, labels)


@pytest.mark.parametrize("method", ["minmax", "percentile", "entropy"])
def test_digits_int8_keeps_top1(digits_model, digits_data, fp32_top1, tmp_path, method):
    calib, images, labels = digits_data
    np.savez(tmp_path / "calib.npz", input=calib)
    artifact = edgec.compile(digits_model, "host", input_shapes={"input": (BATCH, 1, 8, 8)},
                             tuning_logs=False, quantize="int8",
                             calibration=tmp_path / "calib.npz", calibration_method=method)
    rewrites = artifact.report.rewrites
    # every conv on int8 (those whose output only float operators read write float)
    assert int8_convs(rewrites) == 3
    top1 = _top1(artifact, images, labels)
    assert top1 >= fp32_top1 - 0.01, (method, top1, fp32_top1)


def test_per_tensor_weights_also_compile(float_cnn):
    artifact = edgec.compile(float_cnn, "host", tuning_logs=False, quantize="int8",
                             calibration=calibration_samples(), per_channel=False)
    assert int8_convs(artifact.report.rewrites) == 3


def test_model_output_stays_float_and_close(float_cnn):
    import onnxruntime as ort

    artifact = edgec.compile(float_cnn, "host", tuning_logs=False, quantize="int8",
                             calibration=calibration_samples())
    assert artifact.report.rewrites.get("int8 matmul (float output)") == 1
    session = ort.InferenceSession(float_cnn, providers=["CPUExecutionProvider"])
    for sample in calibration_samples(4, seed=9):
        want = session.run(None, sample)[0]
        got = artifact.run(sample)["y"]
        assert np.abs(got - want).max() <= 0.05 * np.abs(want).max()


def test_quantize_needs_calibration_and_vice_versa(float_cnn):
    with pytest.raises(OptionError, match="needs calibration data"):
        edgec.compile(float_cnn, "host", quantize="int8")
    with pytest.raises(OptionError, match="without --quantize int8"):
        edgec.compile(float_cnn, "host", calibration=calibration_samples())
    with pytest.raises(OptionError, match="calibration method 'kl'"):
        edgec.compile(float_cnn, "host", quantize="int8", calibration=calibration_samples(),
                      calibration_method="kl")


def _stats(values: np.ndarray) -> Stats:
    stats = Stats()
    stats.observe_range(values)
    stats.observe_histogram(values)
    return stats


def test_methods_clip_outliers_differently():
    values = np.random.default_rng(0).standard_normal(200_000)
    values[:3] = 50.0
    stats = _stats(values)
    assert value_range(stats, "minmax")[1] == 50.0
    lo, hi = value_range(stats, "percentile", 99.99)
    assert 3.0 < hi < 5.0 and -5.0 < lo < -3.0
    lo, hi = value_range(stats, "entropy")
    assert 2.0 < hi < 10.0 and lo == pytest.approx(-hi, rel=0.02)


def test_entropy_of_a_non_negative_tensor_starts_at_zero():
    values = np.maximum(np.random.default_rng(1).standard_normal(100_000), 0)
    lo, hi = value_range(_stats(values), "entropy")
    assert lo == 0.0 and 1.5 < hi <= values.max()


def test_int8_parameters_keep_zero_exact():
    scale, zero = int8_parameters(0.5, 6.0)      # range widened to [0, 6]
    assert zero == -128 and np.isclose(scale, 6.0 / 255)
    scale, zero = int8_parameters(-1.0, 3.0)
    assert np.rint(0.0 / scale) + zero == zero   # 0.0 is representable
    assert np.isclose((-128 - zero) * scale, -1.0, atol=scale)


def test_weights_symmetric_per_channel():
    w = np.array([[1.0, -2.0], [0.1, 0.05]], np.float32)
    values, scales = weight_parameters(w, 0)
    assert values.tolist() == [[64, -127], [127, 64]]
    np.testing.assert_allclose(scales, [2.0 / 127, 0.1 / 127], rtol=1e-6)
    values, scales = weight_parameters(w, None)
    assert scales.shape == (1,) and values[1].tolist() == [6, 3]


def test_manifest_and_quantize_report(float_cnn, ort_quantized, tmp_path):
    from tests.conftest import run_cli

    calib = tmp_path / "calib.npz"
    np.savez(calib, x=np.concatenate([s["x"] for s in calibration_samples()]))
    out = tmp_path / "cnn.int8.edgec.tar"
    result = run_cli("compile", float_cnn, "--quantize", "int8", "--calibration", calib,
                     "--calibration-method", "percentile", "-o", out)
    assert result.returncode == 0, result.stderr
    assert "int8       4 integer kernels, 0 kept in float; calibrated (percentile" in result.stdout
    entry = edgec.load(out).manifest.pipeline["quantization"]
    assert entry["method"] == "percentile" and entry["samples"] == 16
    assert [layer["op"] for layer in entry["layers"]] == ["conv2d"] * 3 + ["matmul"]
    assert all(20 < t["sqnr_db"] < 80 for t in entry["tensors"])
    report = run_cli("quantize-report", out)
    assert report.returncode == 0, report.stderr
    assert report.stdout.count(" conv2d  ") == 3 and "float output" in report.stdout

    qdq = tmp_path / "qdq.edgec.tar"
    edgec.compile(ort_quantized("qdq", "int8"), "host", tuning_logs=False).save(qdq)
    report = run_cli("quantize-report", qdq)
    # ORT's quantizer puts its residual Add between QDQ pairs: an int8 add here
    assert "5 integer kernels, 0 kept in float; quantized model" in report.stdout
    assert "int8 kernel     add: 1" in report.stdout

    fp32 = tmp_path / "fp32.edgec.tar"
    edgec.compile(float_cnn, "host", tuning_logs=False).save(fp32)
    report = run_cli("quantize-report", fp32)
    assert report.returncode != 0 and "is not quantized" in report.stderr
