"""Compile a real model with some passes turned off and compare it with ONNX Runtime."""

from __future__ import annotations

import edgec
from edgec.reference import OrtReference, compare_outputs
from edgec.runtime.inputs import random_inputs
from tests.conftest import PADDLEOCR


def compile_and_check(model, name: str, disabled=(), target="host", atol=1e-4):
    shape = PADDLEOCR[name][1]
    artifact = edgec.compile(model, target, input_shapes={"x": shape},
                             disabled_passes=disabled)
    inputs = random_inputs(artifact.signature, seed=11)
    got = artifact.run(inputs)
    want = OrtReference(model).run(inputs)
    result = compare_outputs(got, want, atol=atol, rtol=0)
    assert result.passed, f"{name} with {disabled} off: max abs err {result.max_abs}"
    return artifact
