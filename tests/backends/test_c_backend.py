"""The microcontroller back end end to end: real models compiled to C, built with
arm-none-eabi-gcc into firmware, run on emulated Cortex-M boards (qemu-system-arm), outputs
compared with ONNX Runtime / LiteRT."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import edgec
from edgec.device.runners import DeviceSpec, run_on
from edgec.errors import DoesNotFitError, OptionError
from edgec.reference.litert_ref import LiteRTReference
from tests.conftest import REPO, run_cli

TINY = REPO / "models" / "mlperf-tiny"
EMULATE = DeviceSpec("emulate")
# TFLite Micro's planned arenas for the int8 MLPerf Tiny models (inputs and outputs included)
TFLM_ARENA = {"kws_ref_model": 16000, "pretrainedResnet_quant": 49152, "ad01_int8": 768,
              "vww_96_int8": 73728}


@pytest.fixture(scope="module")
def digits_m4(digits_model):
    return edgec.compile(digits_model, "cortex-m4", input_shapes={"input": (1, 1, 8, 8)})


def _ort(model, feeds):
    import onnxruntime as ort

    session = ort.InferenceSession(str(model) if not isinstance(model, bytes) else model,
                                   providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))


@pytest.mark.parametrize("board", ["cortex-m4", "cortex-m7", "cortex-m55"])
def test_digits_runs_on_each_emulated_cortex_m(board, digits_model, digits_test_set, digits_m4):
    artifact = digits_m4 if board == "cortex-m4" else edgec.compile(
        digits_model, board, input_shapes={"input": (1, 1, 8, 8)})
    assert artifact.manifest.entry["kind"] == "c" and artifact.manifest.board["kind"] == "mcu"
    images, labels = digits_test_set
    for index in range(2):
        feeds = {"input": images[index:index + 1]}
        run = run_on(EMULATE, artifact, feeds)
        want = _ort(digits_model, feeds)["logits"]
        np.testing.assert_allclose(run.outputs["logits"], want, rtol=1e-4, atol=1e-4)
        assert run.instructions > 100_000
        assert int(np.argmax(run.outputs["logits"])) == int(labels[index])


def test_instruction_counts_are_exactly_repeatable(digits_m4, digits_test_set):
    feeds = {"input": digits_test_set[0][:1]}
    counts = {run_on(EMULATE, digits_m4, feeds).instructions for _ in range(2)}
    assert len(counts) == 1


def test_the_c_files_stand_alone_and_compile_warning_free(digits_m4, tmp_path):
    source = digits_m4.files["model.c"].decode()
    header = digits_m4.files["model.h"].decode()
    entry = digits_m4.manifest.entry
    arena = entry["arena_bytes"]
    assert f"#define {entry['arena_macro']} {arena}u" in header
    assert "int32_t edgec_digits_cnn_run(const float *input, float *logits, void *arena);" \
        in header
    for forbidden in ("#include \"tvm", "#include <tvm", "malloc", "TVMFFIErrorSet", "__tvm_ffi"):
        assert forbidden not in source, forbidden
    assert re.search(r"static const float edgec_digits_cnn_w\d+\[\d+\]", source)
    (tmp_path / "model.c").write_text(source)
    (tmp_path / "model.h").write_text(header)
    for flags in (["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
                  ["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"]):
        done = subprocess.run(["arm-none-eabi-gcc", *flags, "-std=c11", "-O2", "-Wall",
                               "-Wextra", "-Werror", "-c", "model.c", "-o", "model.o"],
                              cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    mcu = digits_m4.manifest.stats["mcu"]
    assert mcu["arena_bytes"] == arena >= mcu["arena_lower_bound"]
    assert 0 < mcu["flash_bytes"] <= mcu["flash_limit"]
    assert mcu["ram_bytes"] >= arena


@pytest.mark.parametrize("name", ["kws_ref_model", "pretrainedResnet_quant", "ad01_int8"])
def test_int8_mlperf_tiny_is_exact_in_no_more_arena_than_tflite_micro(name):
    path = TINY / f"{name}.tflite"
    artifact = edgec.compile(path, "cortex-m4")
    assert artifact.manifest.entry["arena_bytes"] <= TFLM_ARENA[name]
    quantization = artifact.manifest.pipeline["quantization"]
    assert quantization["int8_kernels"] and not quantization["float_fallbacks"]
    reference = LiteRTReference(path)
    spec = artifact.signature.inputs[0]
    feeds = {spec.name: np.random.default_rng(0).integers(-128, 128, spec.shape).astype("int8")}
    got = run_on(EMULATE, artifact, feeds).outputs
    for key, want in reference.run(feeds).items():
        assert got[key].dtype == np.int8
        assert np.abs(got[key].astype(int) - want.astype(int)).max() <= 1


def test_float_resnet8_fits_the_stm32f746(tmp_path):
    path = TINY / "pretrainedResnet.tflite"
    out = tmp_path / "ic.edgec.tar"
    result = run_cli("compile", path, "--target", "stm32f746", "-o", out)
    assert result.returncode == 0, result.stderr
    assert re.search(r"RAM        [\d,]+ B of 327,680", result.stdout)
    assert "flash      " in result.stdout and "C source" in result.stdout
    artifact = edgec.load(out)
    mcu = artifact.manifest.stats["mcu"]
    assert mcu["ram_limit"] == 320 * 1024 and mcu["ram_bytes"] <= mcu["ram_limit"]
    assert mcu["flash_bytes"] <= path.stat().st_size + 16 * 1024
    result = run_cli("run", out, "--device", "emulate", "--check", path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "instructions" in result.stdout and "result     PASS" in result.stdout
    shown = run_cli("inspect", out)
    assert shown.returncode == 0
    assert "arena plan" in shown.stdout and "offset" in shown.stdout
    assert f"arena      {mcu['arena_bytes']:,} B" in shown.stdout


def test_a_model_too_big_for_the_board_is_refused(tmp_path):
    path = TINY / "ad01_fp32.tflite"  # 1 MiB of float weights: the STM32F746 has 1 MiB flash
    out = tmp_path / "ad.edgec.tar"
    result = run_cli("compile", path, "--target", "stm32f746", "-o", out)
    assert result.returncode == DoesNotFitError.exit_code == 2
    assert re.search(r"does not fit board 'stm32f746': flash: 1,0\d\d,\d{3} bytes .* the board "
                     r"has 1,048,576.*--quantize int8", result.stderr), result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_c_artifacts_run_only_emulated_or_on_the_board(digits_m4, tmp_path):
    path = digits_m4.save(tmp_path / "digits.edgec.tar")
    with pytest.raises(OptionError, match="--device emulate"):
        run_on(DeviceSpec("local"), digits_m4, {"input": np.zeros((1, 1, 8, 8), "float32")})
    result = run_cli("run", path)
    assert result.returncode == 2 and "microcontroller board 'cortex-m4'" in result.stderr


def test_several_outputs_views_and_copies(tmp_path):
    """Outputs that are a kernel's result, a reshape of it (a view), the same tensor twice, and
    an input passed straight through: each ends in its own buffer."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6])
    outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
               for name, shape in (("r", [2, 6]), ("flat", [12]), ("again", [2, 6]),
                                   ("same", [2, 6]))]
    shape = helper.make_tensor("shape", TensorProto.INT64, [1], [12])
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Reshape", ["r", "shape"], ["flat"]),
             helper.make_node("Identity", ["r"], ["again"]),
             helper.make_node("Identity", ["x"], ["same"])]
    model = helper.make_model(helper.make_graph(nodes, "views", [x], outputs, [shape]),
                              opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "views.onnx"
    onnx.save(model, path)
    artifact = edgec.compile(path, "cortex-m4")
    feeds = {"x": np.random.default_rng(0).standard_normal((2, 6)).astype("float32")}
    got = run_on(EMULATE, artifact, feeds).outputs
    for key, want in _ort(path, feeds).items():
        np.testing.assert_array_equal(got[key], want)


def test_runtime_library_operators_are_refused_by_name(tmp_path):
    """TopK is a call into TVM's runtime (its sort library), which a microcontroller lacks."""
    from edgec.errors import UnsupportedModelError

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 20])
    outs = [helper.make_tensor_value_info("v", TensorProto.FLOAT, [1, 3]),
            helper.make_tensor_value_info("i", TensorProto.INT64, [1, 3])]
    k = helper.make_tensor("k", TensorProto.INT64, [1], [3])
    model = helper.make_model(helper.make_graph([helper.make_node("TopK", ["x", "k"], ["v", "i"])],
                                                "topk", [x], outs, [k]),
                              opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "topk.onnx"
    onnx.save(model, path)
    with pytest.raises(UnsupportedModelError, match="'tvm.contrib.sort.topk'.*no TVM runtime"):
        edgec.compile(path, "cortex-m4")


def test_c_name_names_the_symbols(digits_model, tmp_path):
    out = tmp_path / "d.edgec.tar"
    result = run_cli("compile", digits_model, "-t", "cortex-m4", "-s", "input:1,1,8,8",
                     "--c-name", "digits2", "-o", out)
    assert result.returncode == 0, result.stderr
    header = edgec.load(out).files["model.h"].decode()
    assert "int32_t edgec_digits2_run(" in header and "EDGEC_DIGITS2_ARENA_BYTES" in header
    for name, board, why in (("2x", "cortex-m4", "C identifier"),
                             ("ok", "host", "microcontroller artifact")):
        result = run_cli("compile", digits_model, "-t", board, "-s", "input:1,1,8,8",
                         "--c-name", name, "-o", tmp_path / "x.edgec.tar")
        assert result.returncode == 2 and why in result.stderr


def test_float16_models_are_refused_with_what_to_do(tmp_path):
    from edgec.errors import UnsupportedModelError

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT16, [1, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT16, [1, 8])
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "h",
                                                [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "half.onnx"
    onnx.save(model, path)
    with pytest.raises(UnsupportedModelError, match="input 'x' is float16.*convert the model"):
        edgec.compile(path, "cortex-m4")


def test_dynamic_range_weights_stay_int8_in_flash():
    """The float KWS file keeps int8 weights (float activations): they stay int8 in flash,
    decoded in the kernels, and the model is not reported as quantized (it computes in float)."""
    path = TINY / "kws_ref_model_float32.tflite"
    artifact = edgec.compile(path, "cortex-m4")
    assert artifact.report.rewrites["weights stored in int8 (decoded to float in the kernel)"] == 5
    assert artifact.manifest.pipeline["quantization"] is None
    assert artifact.manifest.stats["mcu"]["flash_bytes"] <= path.stat().st_size + 16 * 1024
    feeds = {"input_1": np.random.default_rng(0).standard_normal((1, 49, 10, 1)).astype("f4")}
    got = run_on(EMULATE, artifact, feeds).outputs["Identity"]
    np.testing.assert_allclose(got, LiteRTReference(path).run(feeds)["Identity"], rtol=1e-4,
                               atol=1e-5)
