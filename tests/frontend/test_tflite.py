"""TFLite import: the MLPerf Tiny reference models (float, int8 and dynamic-range quantized)
compiled by edgec and compared with LiteRT running the same file; clear errors for bad files."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import edgec
from edgec.errors import InputShapeError, ModelError, OptionError
from edgec.frontend import import_model
from edgec.frontend.tflite_import import is_tflite, operator_names, parse_tflite
from edgec.reference import open_reference
from edgec.reference.litert_ref import LiteRTReference
from tests.conftest import REPO, run_cli

MLPERF_TINY = REPO / "models" / "mlperf-tiny"
FLOAT = ["ad01_fp32", "pretrainedResnet", "vww_96_float"]
INT8 = ["ad01_int8", "kws_ref_model", "pretrainedResnet_quant", "vww_96_int8"]
HYBRID = "kws_ref_model_float32"
SLOW = {"vww_96_float", "vww_96_int8"}


def _params(names):
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in names]


def _inputs(signature, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in signature.inputs:
        if spec.dtype == "float32":
            feeds[spec.name] = rng.standard_normal(spec.shape).astype(np.float32)
        else:
            info = np.iinfo(spec.dtype)
            feeds[spec.name] = rng.integers(info.min, info.max + 1, spec.shape).astype(spec.dtype)
    return feeds


def _compile_and_compare(name: str, tmp_path, samples: int = 3):
    path = MLPERF_TINY / f"{name}.tflite"
    artifact = edgec.compile(path, "host", tuning_logs=False)
    loaded = edgec.load(artifact.save(tmp_path / f"{name}.edgec.tar"))
    reference = LiteRTReference(path)
    pairs = []
    for seed in range(samples):
        feeds = _inputs(loaded.signature, seed)
        got, want = loaded.run(feeds), reference.run(feeds)
        assert list(got) == list(want) == loaded.signature.output_names
        pairs.append((got, want))
    return artifact, pairs


@pytest.mark.parametrize("name", _params(FLOAT))
def test_float_models_agree_with_litert(name, tmp_path):
    artifact, pairs = _compile_and_compare(name, tmp_path)
    assert artifact.manifest.model["format"] == "tflite"
    for got, want in pairs:
        for key, ref in want.items():
            scale = float(np.abs(ref).max())
            assert np.abs(got[key] - ref).max() <= 1e-4 * scale + 1e-6, key


@pytest.mark.parametrize("name", _params(INT8))
def test_int8_models_run_integer_kernels_and_agree_with_litert(name, tmp_path):
    artifact, pairs = _compile_and_compare(name, tmp_path, samples=8)
    diffs = []
    for got, want in pairs:
        for key, ref in want.items():
            assert got[key].dtype == ref.dtype == np.int8
            diffs.append(np.abs(got[key].astype(np.int32) - ref.astype(np.int32)).ravel())
    # Requantization in float32 (LiteRT: fixed point) puts a layer's output at most one step
    # off, seldom; a softmax after the logits (scale ~0.17) can turn that into two.
    diffs = np.concatenate(diffs)
    assert diffs.max() <= 2 and np.mean(diffs == 0) >= 0.9, np.bincount(diffs)
    ops = operator_names(parse_tflite((MLPERF_TINY / f"{name}.tflite").read_bytes(), name))
    quant = artifact.manifest.pipeline["quantization"]
    kernels = quant["int8_kernels"]
    assert kernels.get("conv2d", 0) == ops["CONV_2D"] + ops["DEPTHWISE_CONV_2D"]
    assert kernels.get("matmul", 0) == ops["FULLY_CONNECTED"]
    assert not quant["float_fallbacks"]


def test_dynamic_range_model_dequantizes_its_weights(tmp_path):
    """int8 weights next to float activations (TVM's frontend refuses these): edgec computes
    in float with the dequantized weights; the LiteRT reference runs the file with those
    weights stored dequantized (LiteRT's own kernels would quantize the activations on each
    call), so the two agree to float rounding; and with LiteRT's int8-activation kernels, to
    int8 rounding and on the class."""
    artifact, pairs = _compile_and_compare(HYBRID, tmp_path, samples=8)
    assert artifact.signature.inputs[0].dtype == "float32"
    for got, want in pairs:
        (key, ref), = want.items()
        assert np.abs(got[key] - ref).max() < 1e-5
    from ai_edge_litert.interpreter import Interpreter

    approximate = Interpreter(model_path=str(MLPERF_TINY / f"{HYBRID}.tflite"))
    approximate.allocate_tensors()
    loaded = edgec.load(artifact.save(tmp_path / "h.edgec.tar"))
    for seed in range(4):
        feeds = _inputs(artifact.signature, seed)
        (spec,) = approximate.get_input_details()
        approximate.set_tensor(spec["index"], feeds[spec["name"]])
        approximate.invoke()
        ref = approximate.get_tensor(approximate.get_output_details()[0]["index"])
        (out,) = loaded.run(feeds).values()
        assert np.abs(out - ref).max() < 1e-2 and np.argmax(out) == np.argmax(ref)
    assert "dynamic-range quantization" in LiteRTReference(
        MLPERF_TINY / f"{HYBRID}.tflite").note
    assert LiteRTReference(MLPERF_TINY / "ad01_fp32.tflite").note == ""


def test_dynamic_batch_takes_the_stored_size_or_the_given_one(tmp_path):
    path = MLPERF_TINY / "ad01_fp32.tflite"
    assert import_model(path).signature.inputs[0].shape == (1, 640)
    artifact = edgec.compile(path, "host", input_shapes=["input_1:4,640"], tuning_logs=False)
    assert artifact.signature.inputs[0].shape == (4, 640)
    feeds = _inputs(artifact.signature, 0)
    want = LiteRTReference(path).run(feeds)["Identity"]
    got = artifact.run(feeds)["Identity"]
    assert got.shape == (4, 640)
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


def test_recognised_by_content_not_name(tmp_path):
    data = (MLPERF_TINY / "pretrainedResnet_quant.tflite").read_bytes()
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(data)
    assert is_tflite(renamed) and is_tflite(data)
    assert not is_tflite(REPO / "examples" / "digits" / "digits_cnn.onnx")
    assert isinstance(open_reference(renamed), LiteRTReference)
    imported = import_model(data)
    assert imported.format == "tflite" and imported.quantized
    assert imported.source_ops == collections.Counter(
        operator_names(parse_tflite(data, "bytes")))


@pytest.mark.parametrize("damage", ["truncated", "identifier", "empty"])
def test_broken_files_are_model_errors(tmp_path, damage):
    data = (MLPERF_TINY / "kws_ref_model.tflite").read_bytes()
    broken = {"truncated": data[: len(data) // 3], "identifier": data[:4] + b"XXXX" + data[8:],
              "empty": b""}[damage]
    path = tmp_path / "broken.tflite"
    path.write_bytes(broken)
    with pytest.raises(ModelError, match="broken.tflite"):
        edgec.compile(path, "host", tuning_logs=False)


def test_shape_and_freeze_mistakes(tmp_path):
    path = MLPERF_TINY / "kws_ref_model.tflite"
    with pytest.raises(InputShapeError, match="may only set its dynamic"):
        import_model(path, {"input_1": (1, 49, 11, 1)})
    with pytest.raises(InputShapeError, match="no such input; its inputs are: input_1"):
        import_model(path, {"x": (1, 49, 10, 1)})
    with pytest.raises(OptionError, match="--freeze-input applies to ONNX models"):
        import_model(path, None, {"input_1": np.zeros(1)})


def test_cli_compile_and_check_against_litert(tmp_path):
    model = MLPERF_TINY / "pretrainedResnet_quant.tflite"
    out = tmp_path / "ic.edgec.tar"
    result = run_cli("compile", model, "-o", out, "--no-tuning-logs")
    assert result.returncode == 0, result.stderr
    assert "TFLite schema 3" in result.stdout and "int8 conv2d x9" in result.stdout
    result = run_cli("run", out, "--check", model, "--repeat", "3", "--atol", "1")
    assert result.returncode == 0, result.stderr
    assert "latency    litert" in result.stdout
    assert "PASS: matches LiteRT" in result.stdout

    hybrid = MLPERF_TINY / f"{HYBRID}.tflite"
    out = tmp_path / "kws.edgec.tar"
    assert run_cli("compile", hybrid, "-o", out, "--no-tuning-logs").returncode == 0
    # the reference runs the file with its int8 weights dequantized (float activations, as
    # edgec computes it): the default tolerance holds
    result = run_cli("run", out, "--check", hybrid, "--repeat", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dynamic-range quantization" in result.stdout and "PASS" in result.stdout


@pytest.mark.slow
def test_int8_kws_on_emulated_pi4_matches_litert(tmp_path):
    """Cross-compiled for the Pi 4 (NHWC, convs on NEON smull) and run under qemu: LiteRT's
    int8 outputs bit for bit on random inputs."""
    from edgec.device.emulator import provision
    from edgec.targets import get_board

    provision(get_board("rasp4b"))
    path = MLPERF_TINY / "kws_ref_model.tflite"
    artifact = edgec.compile(path, "rasp4b", tuning_logs=False)
    assert artifact.report.rewrites.get("int8 conv2d") == 9
    assert artifact.report.quantization["instructions"]["found"].get("smull", 0) > 0
    loaded = edgec.load(artifact.save(tmp_path / "kws.edgec.tar"))
    reference = LiteRTReference(path)
    for seed in range(3):
        feeds = _inputs(loaded.signature, seed)
        got = loaded.run(feeds, device="emulate")["Identity"]
        want = reference.run(feeds)["Identity"]
        assert np.abs(got.astype(np.int32) - want).max() <= 2
