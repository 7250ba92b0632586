"""``edgec check-model``: every operator's status before compiling, and the README's operator
table kept equal to what the code supports."""

from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import TensorProto, helper

from edgec.frontend.coverage import (CONSTANT_INPUT, FOLDED, NEEDS_FREEZE, SUPPORTED,
                                     UNSUPPORTED, check_model, markdown_table)
from tests.conftest import REPO, run_cli
from tests.onnx_models import make_model, tensor


def _mixed_model():
    """Shape -> Gather is folded; the Reshape's shape is a model input (needs freezing); the
    other Reshape's is a constant; Foo is no operator edgec knows."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"], name="shape"),
        helper.make_node("Reshape", ["x", "s"], ["x2"], name="reshape_const"),
        helper.make_node("Reshape", ["x2", "target"], ["r"], name="reshape_input"),
        helper.make_node("Relu", ["r"], ["a"], name="relu"),
        helper.make_node("Foo", ["a"], ["y"], name="foo1", domain="custom"),
    ]
    model = make_model(nodes, [tensor("x", [2, 6]), tensor("target", [2], TensorProto.INT64)],
                       [tensor("y", [3, 4])])
    model.opset_import.append(helper.make_opsetid("custom", 1))
    return model


def test_statuses_of_a_mixed_model():
    report = check_model(_mixed_model().SerializeToString())
    status = {e.op_type: e for e in report.operators}
    assert status["Shape"].status == FOLDED
    assert status["Relu"].status == SUPPORTED
    assert status["custom::Foo"].status == UNSUPPORTED
    assert status["custom::Foo"].nodes == ["foo1"]
    reshape = status["Reshape"]
    assert reshape.status == NEEDS_FREEZE and reshape.count == 2
    assert reshape.nodes == ["reshape_input"] and "target" in reshape.detail
    assert not report.compiles


def test_frozen_input_makes_it_a_constant():
    report = check_model(_mixed_model().SerializeToString(),
                         freeze={"target": np.array([3, 4])})
    status = {e.op_type: e.status for e in report.operators}
    assert status["Reshape"] == CONSTANT_INPUT
    assert status["custom::Foo"] == UNSUPPORTED


def test_cli_exit_codes_and_json(tmp_path):
    path = tmp_path / "mixed.onnx"
    onnx.save(_mixed_model(), path)
    result = run_cli("check-model", path)
    assert result.returncode == 1, result.stderr
    assert "custom::Foo" in result.stdout and "[foo1]" in result.stdout
    assert "needs --freeze-input" in result.stdout
    assert "edgec cannot compile this model as it is" in result.stdout

    hybrid = REPO / "models" / "mlperf-tiny" / "kws_ref_model_float32.tflite"
    result = run_cli("check-model", hybrid, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["compiles"] and data["format"] == "TFLite, schema 3"
    conv = next(e for e in data["operators"] if e["op_type"] == "CONV_2D")
    assert conv["count"] == 5 and "dynamic-range" in conv["detail"]

    result = run_cli("check-model", tmp_path / "missing.onnx")
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_readme_operator_table_is_generated_from_the_code():
    readme = (REPO / "README.md").read_text()
    assert markdown_table() in readme, (
        "README's operator table is out of date: regenerate it with "
        "python -m edgec.frontend.coverage")
