"""The ``edgec`` command, run as a user runs it: real processes, real files."""

from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import helper

from tests.conftest import DIGITS_MODEL, flip_library_byte, run_cli
from tests.onnx_models import add_relu, make_model, tensor


def _assert_one_line_error(result, code: int, *fragments: str):
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("edgec: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_compile_run_check_inspect(tmp_path, digits_model, digits_test_set):
    out = tmp_path / "digits.edgec.tar"
    result = run_cli("compile", digits_model, "--target", "host", "--input-shape",
                     "input:1,1,8,8", "-o", out, "--pass-times")
    assert result.returncode == 0, result.stderr
    for word in ("operators", "kernels", "library", "artifact", "passes:", "FuseOps"):
        assert word in result.stdout
    assert out.is_file()

    images, _ = digits_test_set
    np.savez(tmp_path / "in.npz", input=images[:1])
    result = run_cli("run", out, "--inputs", tmp_path / "in.npz", "--outputs",
                     tmp_path / "out.npz", "--repeat", "5", "--check", digits_model,
                     "--rtol", "0")
    assert result.returncode == 0, result.stderr
    assert "latency    edgec        mean" in result.stdout and "p99" in result.stdout
    assert "latency    onnxruntime" in result.stdout
    assert "result     PASS" in result.stdout
    logits = np.load(tmp_path / "out.npz")["logits"]
    assert logits.shape == (1, 10)

    result = run_cli("inspect", out)
    assert result.returncode == 0, result.stderr
    assert "hashes verified" in result.stdout and "input      input: float32[1,1,8,8]" in \
        result.stdout
    raw = json.loads(run_cli("inspect", out, "--json").stdout)
    assert raw["format"] == "edgec-artifact" and raw["board"]["name"] == "host"


def test_targets_lists_boards():
    result = run_cli("targets")
    assert result.returncode == 0 and result.stdout.startswith("BOARD")
    names = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert {"host", "rasp4b", "rasp4b-32", "rasp3b", "rasp5", "rk3399", "jetson-orin-nano",
            "cortex-m4", "cortex-m7", "cortex-m55", "stm32f746"} <= set(names)


def test_default_output_name(tmp_path, digits_model):
    result = run_cli("compile", digits_model, "-s", "input:1,1,8,8", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "digits_cnn.edgec.tar").is_file()


def test_not_an_onnx_file(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_text("hello")
    result = run_cli("compile", bad, "-o", tmp_path / "x.tar")
    _assert_one_line_error(result, 2, "model.onnx' is not an ONNX model")
    assert not (tmp_path / "x.tar").exists()


def test_symbolic_shape_not_given(tmp_path, digits_model):
    result = run_cli("compile", digits_model, "-o", tmp_path / "x.tar")
    _assert_one_line_error(result, 2, "input 'input'", "symbolic dimensions",
                           "--input-shape input:N,1,8,8")
    assert list(tmp_path.iterdir()) == []


def test_unsupported_operators_listed(tmp_path):
    nodes = [helper.make_node("Foo", ["x"], ["a"], name="foo1", domain="custom"),
             helper.make_node("Bar", ["a"], ["y"], name="bar1", domain="custom")]
    model = make_model(nodes, [tensor("x", [1, 4])], [tensor("y", [1, 4])])
    model.opset_import.append(helper.make_opsetid("custom", 1))
    path = tmp_path / "custom.onnx"
    onnx.save(model, path)
    result = run_cli("compile", path, "-o", tmp_path / "x.tar")
    _assert_one_line_error(result, 2, "custom::Bar (nodes 'bar1')",
                           "custom::Foo (nodes 'foo1')")


def test_unsupported_opset(tmp_path):
    model = add_relu()
    model.opset_import[0].version = 99
    path = tmp_path / "future.onnx"
    path.write_bytes(model.SerializeToString())
    _assert_one_line_error(run_cli("compile", path), 2, "opset 99")


def test_unknown_target(digits_model):
    _assert_one_line_error(run_cli("compile", digits_model, "--target", "toaster"), 2,
                           "unknown target 'toaster'")


def test_run_with_wrong_inputs(tmp_path, digits_artifact_path):
    np.savez(tmp_path / "bad.npz", input=np.zeros((1, 1, 8, 8)))
    _assert_one_line_error(run_cli("run", digits_artifact_path, "--inputs", tmp_path / "bad.npz"),
                           2, "has dtype float64; the model takes float32")
    np.savez(tmp_path / "name.npz", image=np.zeros((1, 1, 8, 8), np.float32))
    _assert_one_line_error(run_cli("run", digits_artifact_path, "--inputs",
                                   tmp_path / "name.npz"), 2, "unknown input(s) 'image'")
    np.savez(tmp_path / "shape.npz", input=np.zeros((1, 1, 9, 9), np.float32))
    _assert_one_line_error(run_cli("run", digits_artifact_path, "--inputs",
                                   tmp_path / "shape.npz"), 2, "has shape [1, 1, 9, 9]")


def test_run_tampered_artifact(tmp_path, digits_artifact_path):
    bad = flip_library_byte(digits_artifact_path, tmp_path / "bad.edgec.tar")
    _assert_one_line_error(run_cli("run", bad), 2, "does not match its manifest",
                           "refusing to load it")
    _assert_one_line_error(run_cli("inspect", bad), 2, "does not match its manifest")


def test_check_failure_exits_1(tmp_path, digits_artifact_path):
    # A model with the same signature but different weights: the check must fail.
    other = tmp_path / "other.onnx"
    src = onnx.load(str(DIGITS_MODEL))
    for init in src.graph.initializer:
        if init.name == "fc.bias":
            arr = onnx.numpy_helper.to_array(init) + 1.0
            init.CopyFrom(onnx.numpy_helper.from_array(arr.astype(np.float32), "fc.bias"))
    onnx.save(src, other)
    result = run_cli("run", digits_artifact_path, "--check", other, "--repeat", "0")
    assert result.returncode == 1
    assert "FAIL" in result.stdout and "outputs differ from ONNX Runtime" in result.stderr
    assert "not the model this artifact was compiled from" in result.stderr


def test_output_to_directory_is_refused(tmp_path, digits_model):
    _assert_one_line_error(run_cli("compile", digits_model, "-s", "input:1,1,8,8", "-o",
                                   tmp_path), 2, "is a directory")
