"""Unsupported operators: one error listing all of them, with node names."""

from __future__ import annotations

import pytest
from onnx import helper

from edgec.errors import UnsupportedModelError
from edgec.frontend.support import check_operators
from tests.onnx_models import make_model, tensor


def test_all_unsupported_operators_are_listed_at_once():
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="ok"),
        helper.make_node("FancyOp", ["a"], ["b"], name="fancy_1", domain="com.example"),
        helper.make_node("FancyOp", ["b"], ["c"], name="fancy_2", domain="com.example"),
        helper.make_node("MelWeightMatrix", ["c"], ["d"], name="mel"),
        helper.make_node("Relu", ["d"], ["y"], name="ok2"),
    ]
    model = make_model(nodes, [tensor("x", [1, 4])], [tensor("y", [1, 4])])
    with pytest.raises(UnsupportedModelError) as err:
        check_operators(model, "m.onnx")
    message = str(err.value)
    assert "uses 2 operator type(s) edgec cannot compile yet, in 3 node(s)" in message
    assert "com.example::FancyOp (nodes 'fancy_1', 'fancy_2')" in message
    assert "MelWeightMatrix (nodes 'mel')" in message
    assert "Relu" not in message


def test_supported_model_passes():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [tensor("x", [1])],
                       [tensor("y", [1])])
    check_operators(model, "m")
