"""Opset policy: old models converted up, newer-than-importer converted down, the rest refused."""

from __future__ import annotations

import pytest

from edgec.errors import UnsupportedModelError
from edgec.frontend.opset import IMPORTER_MAX, PREFERRED_MIN, model_opset, normalize_opset
from tests.onnx_models import add_relu


def test_old_opset_is_converted_up():
    model, change = normalize_opset(add_relu(opset=11), "m")
    assert (change.original, change.final) == (11, PREFERRED_MIN)
    assert model_opset(model) == PREFERRED_MIN


def test_supported_opset_is_kept():
    model = add_relu(opset=17)
    out, change = normalize_opset(model, "m")
    assert out is model and change.original == change.final == 17


def test_newer_opset_is_converted_down():
    model, change = normalize_opset(add_relu(opset=IMPORTER_MAX + 1), "m")
    assert change.final == IMPORTER_MAX
    assert model_opset(model) == IMPORTER_MAX


def test_opset_newer_than_onnx_knows_is_refused():
    model = add_relu()
    model.opset_import[0].version = 99
    with pytest.raises(UnsupportedModelError, match=r"'m' uses ONNX opset 99, newer than"):
        normalize_opset(model, "m")


def test_ancient_opset_is_converted_up_when_onnx_can():
    model = add_relu()
    model.opset_import[0].version = 5
    converted, change = normalize_opset(model, "m")
    assert (change.original, change.final) == (5, PREFERRED_MIN)


def test_ancient_opset_onnx_cannot_convert_is_refused():
    from onnx import TensorProto, helper

    node = helper.make_node("Upsample", ["x"], ["y"], scales=[1.0, 1.0, 2.0, 2.0])
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 5)])
    model.ir_version = 3
    with pytest.raises(UnsupportedModelError, match=r"opset 5; edgec supports opsets 7\.\.23"):
        normalize_opset(model, "m")


def _mod_model(opset: int):
    from onnx import TensorProto, helper

    node = helper.make_node("Mod", ["x", "y"], ["z"], fmod=0)
    graph = helper.make_graph([node], "g",
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, [4])
                               for n in ("x", "y")],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, [4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    return model


def test_newest_opset_without_a_converter_is_relabeled_when_operators_are_the_same():
    """ONNX's version converter has no adapter down from Mod's newest version; Mod's inputs,
    outputs and attributes are the same at 23, so the model is declared at 23."""
    import onnx

    newest = onnx.defs.onnx_opset_version()
    model, change = normalize_opset(_mod_model(newest), "m")
    assert (change.original, change.final) == (newest, IMPORTER_MAX)
    assert model_opset(model) == IMPORTER_MAX


def test_float_mod_by_infinity_is_python_mod():
    """x % inf is x when x is zero or has the divisor's sign, else the divisor (TVM: NaN)."""
    import numpy as np

    import edgec

    x = np.array([-3, 3, -1, 1], np.float32)
    y = np.array([np.inf, np.inf, -np.inf, -np.inf], np.float32)
    z = edgec.compile(_mod_model(17).SerializeToString(), "host", tuning_logs=False).run(
        {"x": x, "y": y})["z"]
    np.testing.assert_array_equal(z, np.mod(x, y))
