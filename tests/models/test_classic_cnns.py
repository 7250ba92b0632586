"""The ImageNet CNNs of the ONNX model zoo's first generation (AlexNet, VGG-19, GoogLeNet:
opset 9, LRN, Dropout nodes with mask outputs, 224x224), built here with random weights:
they compile and match ONNX Runtime. Their Gemm + ReLU + Dropout once fused into a kernel
with two outputs that a schedule rule failed on, failing the whole compile."""

from __future__ import annotations

import sys

import pytest

import edgec
from edgec.reference import OrtReference, compare_outputs
from edgec.runtime.inputs import random_inputs
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "examples" / "models"))
import cnn_zoo  # noqa: E402


def _compile_and_check(name: str, width: float, tmp_path) -> edgec.Artifact:
    model = cnn_zoo.MODELS[name](width=width)
    assert "Dropout" in {n.op_type for n in model.graph.node}
    path = cnn_zoo.build(name, tmp_path / f"{name}.onnx", width=width)
    artifact = edgec.compile(path, "host", input_shapes={"input": (1, 3, 224, 224)},
                             tuning_logs=False)
    inputs = random_inputs(artifact.signature, seed=5)
    result = compare_outputs(artifact.run(inputs), OrtReference(path).run(inputs))
    assert result.passed, f"{name} x{width}: max abs error {result.max_abs}"
    assert artifact.report.rewrites.get("naive kernel (no rule applies)", 0) == 0
    return artifact


@pytest.mark.parametrize("name", ["alexnet", "vgg19", "googlenet"])
def test_zoo_style_cnn_with_dropout_matches_onnxruntime(name, tmp_path):
    _compile_and_check(name, 0.25, tmp_path)
