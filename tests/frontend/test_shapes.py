"""Input shapes: parsing, resolving against the model, and the messages for mistakes."""

from __future__ import annotations

import pytest

from edgec.errors import InputShapeError
from edgec.frontend.shapes import parse_shape_specs, resolve_input_specs
from tests.onnx_models import make_model, shape_reshape, tensor
from onnx import helper


def test_parse_named_and_unnamed():
    assert parse_shape_specs(["x:1,3,224,224", "mask:1x8"]) == {"x": (1, 3, 224, 224),
                                                               "mask": (1, 8)}
    assert parse_shape_specs(["1,3,8,8"]) == {"": (1, 3, 8, 8)}


@pytest.mark.parametrize("spec", ["x:", "x:a,b", "x:1,-3", "x:0,3"])
def test_parse_rejects_bad_specs(spec):
    with pytest.raises(InputShapeError):
        parse_shape_specs([spec])


def test_duplicate_spec():
    with pytest.raises(InputShapeError, match="given a shape twice"):
        parse_shape_specs(["x:1", "x:2"])


def test_symbolic_dimension_without_shape_names_the_input():
    with pytest.raises(InputShapeError) as err:
        resolve_input_specs(shape_reshape(), None, "m.onnx")
    message = str(err.value)
    assert "input 'x' of model 'm.onnx' has symbolic dimensions [axis 0 (N)]" in message
    assert "--input-shape x:N,2,3,4" in message


def test_symbolic_dimension_given():
    specs = resolve_input_specs(shape_reshape(), {"x": (5, 2, 3, 4)}, "m")
    assert specs[0].shape == (5, 2, 3, 4) and specs[0].dtype == "float32"


def test_unnamed_shape_for_single_input():
    assert resolve_input_specs(shape_reshape(), {"": (2, 2, 3, 4)}, "m")[0].shape == (2, 2, 3, 4)


def test_unknown_input_name():
    with pytest.raises(InputShapeError, match=r"shape given for 'y', but model 'm' has no such "
                                              r"input; its inputs are: x"):
        resolve_input_specs(shape_reshape(), {"y": (1, 2, 3, 4)}, "m")


def test_rank_mismatch():
    with pytest.raises(InputShapeError, match=r"input 'x' has rank 4 \(\[N,2,3,4\]\), but the "
                                              r"shape given has rank 2"):
        resolve_input_specs(shape_reshape(), {"x": (1, 24)}, "m")


def test_fixed_dimension_cannot_change():
    with pytest.raises(InputShapeError, match="fixed size 2 on axis 1"):
        resolve_input_specs(shape_reshape(), {"x": (1, 3, 3, 4)}, "m")


def test_unnamed_shape_with_two_inputs_is_ambiguous():
    model = make_model([helper.make_node("Add", ["a", "b"], ["c"])],
                       [tensor("a", [1, 2]), tensor("b", [1, 2])], [tensor("c", [1, 2])])
    with pytest.raises(InputShapeError, match=r"has 2 inputs \(a, b\); name the input"):
        resolve_input_specs(model, {"": (1, 2)}, "m")
