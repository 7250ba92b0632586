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


def test_ancient_opset_is_refused():
    model = add_relu()
    model.opset_import[0].version = 5
    with pytest.raises(UnsupportedModelError, match=r"opset 5; edgec supports opsets 7\.\.23"):
        normalize_opset(model, "m")
