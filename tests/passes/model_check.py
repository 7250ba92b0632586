"""Compile a real model with some passes turned off and compare it with ONNX Runtime.

Compiles are kept for the test session: several pass tests (and the pipeline tests) need the
same full compile of a PaddleOCR model, which takes 10-20 s on 2 cores; the first one
compiles and checks it, the others reuse it. Artifacts are not changed by the tests."""

from __future__ import annotations

import edgec
from edgec.reference import OrtReference, compare_outputs
from edgec.runtime.inputs import random_inputs
from tests.conftest import PADDLEOCR

_COMPILED: dict[tuple, edgec.Artifact] = {}


def compile_and_check(model, name: str, disabled=(), target="host", atol=1e-4):
    key = (str(model), name, tuple(sorted(disabled)), target, atol)
    if key not in _COMPILED:
        shape = PADDLEOCR[name][1]
        artifact = edgec.compile(model, target, input_shapes={"x": shape},
                                 disabled_passes=disabled)
        inputs = random_inputs(artifact.signature, seed=11)
        got = artifact.run(inputs)
        want = OrtReference(model).run(inputs)
        result = compare_outputs(got, want, atol=atol, rtol=0)
        assert result.passed, f"{name} with {disabled} off: max abs err {result.max_abs}"
        _COMPILED[key] = artifact
    return _COMPILED[key]


def transpose_pairs(ir_text: str) -> tuple[int, int]:
    """(permute_dims count, permute_dims applied to another permute_dims's result)."""
    import re

    defined = {}
    for line in ir_text.splitlines():
        match = re.match(r"\s*(\w+)(?::[^=]*)? = R\.permute_dims\((\w+)", line)
        if match:
            defined[match.group(1)] = match.group(2)
    pairs = sum(1 for arg in defined.values() if arg in defined)
    return len(defined), pairs
