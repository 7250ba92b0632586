"""The pipeline on the real PaddleOCR models, for host (all three) and rasp4b (det, the largest;
the passes are the same for every CPU board) at -O3: every batch norm and activation pattern in
them rewritten (as the report says), fewer kernels than at -O0, and outputs within 1e-4 of ONNX
Runtime (rasp4b on the emulated board)."""

from __future__ import annotations

import collections

import onnx
import pytest

import edgec
from edgec.reference import OrtReference, compare_outputs
from edgec.runtime.inputs import random_inputs
from tests.conftest import PADDLEOCR


def _onnx_ops(path) -> collections.Counter:
    return collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node)


@pytest.fixture(scope="module")
def rasp4b_ready():
    from edgec.device.emulator import provision
    from edgec.targets import get_board

    provision(get_board("rasp4b"))


@pytest.mark.slow
@pytest.mark.parametrize(("name", "target"), [("det", "host"), ("rec", "host"), ("cls", "host"),
                                              ("det", "rasp4b")])
def test_o3_rewrites_every_pattern(paddleocr_models, rasp4b_ready, name, target, tmp_path):
    from tests.passes.model_check import compile_and_check, transpose_pairs

    model = paddleocr_models[name]
    if target == "host":  # the same compile the pass tests check: made once per session
        artifact = compile_and_check(model, name)
    else:
        artifact = edgec.compile(model, target, input_shapes={"x": PADDLEOCR[name][1]},
                                 dump_ir=tmp_path)
        # the NHWC layout phase leaves no transpose next to its inverse; what remains sits at
        # real boundaries (the model's input and output, conv2d_transpose, which has no NHWC
        # form, tensors shared by several consumers)
        assert "ConvertLayout" in artifact.manifest.pipeline["passes"]
        text = sorted(p for p in tmp_path.iterdir() if "-layout-" in p.name)[-1].read_text()
        transposes, pairs = transpose_pairs(text)
        assert pairs == 0
        if name != "rec":   # (rec's attention transposes its heads)
            assert transposes <= 8 < text.count("R.nn.conv2d(")
    report = artifact.report
    ops = _onnx_ops(model)
    rewrites = report.rewrites

    # Activations: every HardSigmoid node, every Clip (each the clip of a hard-swish).
    assert rewrites.get("activation hard_sigmoid", 0) == ops["HardSigmoid"]
    assert rewrites.get("activation hard_swish", 0) == ops["Clip"]
    assert "clip" not in report.after.op_histogram
    # Batch norm: each decomposed one divides by sqrt(var + eps) once; all fold into convs.
    divides = sum(n for rule, n in rewrites.items() if rule.endswith("+divide"))
    assert divides == ops["BatchNormalization"]
    assert report.after.kernels < report.before.kernels
    assert report.after.relax_ops < report.before.relax_ops
    assert artifact.manifest.stats["rewrites"] == rewrites

    inputs = random_inputs(artifact.signature, seed=4)
    got = artifact.run(inputs, device=None if target == "host" else "emulate")
    result = compare_outputs(got, OrtReference(model).run(inputs), atol=1e-4, rtol=0)
    assert result.passed, f"{name} on {target}: max abs error {result.max_abs}"
