"""The pipeline is data: levels, disabling passes by name, IR dumps, per-pass timings."""

from __future__ import annotations

import pytest

import edgec
from edgec.errors import OptionError
from edgec.passes.pipeline import PipelineOptions, build_pipeline, pass_names
from edgec.reference import OrtReference, compare_outputs
from edgec.runtime.inputs import random_inputs


def test_levels_nest():
    names = {level: [e.name for e in build_pipeline(PipelineOptions(opt_level=level,
                                                                     layout="NHWC"))]
             for level in range(4)}
    assert set(names[0]) <= set(names[1]) <= set(names[2]) <= set(names[3])
    assert "FuseOps" not in names[0] and "FuseOps" in names[1]
    assert "RecognizeActivations" not in names[1] and "RecognizeActivations" in names[2]
    assert "ConvertLayout" not in names[2] and "ConvertLayout" in names[3]
    nchw = [e.name for e in build_pipeline(PipelineOptions(opt_level=3, layout="NCHW"))]
    assert "ConvertLayout" not in nchw  # a board that keeps NCHW has no layout phase
    assert [n for n in pass_names() if n in names[3]] == list(dict.fromkeys(names[3]))


def test_disable_pass_and_errors():
    names = [e.name for e in build_pipeline(PipelineOptions(disabled_passes=frozenset(
        {"FuseOps", "FuseTIR"})))]
    assert "FuseOps" not in names and "FuseTIR" not in names
    with pytest.raises(OptionError, match="--disable-pass Nope: no such pass"):
        build_pipeline(PipelineOptions(disabled_passes=frozenset({"Nope"})))
    with pytest.raises(OptionError, match="LegalizeOps: this pass is required"):
        build_pipeline(PipelineOptions(disabled_passes=frozenset({"LegalizeOps"})))
    with pytest.raises(OptionError, match="-O7 does not exist"):
        build_pipeline(PipelineOptions(opt_level=7))


def test_fusion_reduces_kernels_and_keeps_values(digits_model, tmp_path):
    shapes = {"input": (1, 1, 8, 8)}
    o0 = edgec.compile(digits_model, "host", input_shapes=shapes, opt_level=0)
    o3 = edgec.compile(digits_model, "host", input_shapes=shapes, opt_level=3,
                       dump_ir=tmp_path / "ir")
    assert o3.report.after.kernels < o0.report.after.kernels
    assert o3.manifest.pipeline["opt_level"] == 3
    inputs = random_inputs(o0.signature)
    expected = OrtReference(digits_model).run(inputs)
    for artifact in (o0, o3):
        assert compare_outputs(artifact.run(inputs), expected, atol=1e-4, rtol=0).passed
    dumps = sorted(p.name for p in (tmp_path / "ir").iterdir())
    assert dumps[0] == "000-input.py"
    assert len(dumps) == len(o3.manifest.pipeline["passes"]) + 1
    assert any("FuseOps" in d for d in dumps)
    assert [t.name for t in o3.report.pass_timings] == o3.manifest.pipeline["passes"]


def test_report_counts(digits_model):
    artifact = edgec.compile(digits_model, "host", input_shapes={"input": (1, 1, 8, 8)})
    report = artifact.report
    assert report.onnx_nodes == 12  # 3 Conv, 2 BatchNorm, 3 Relu, MaxPool, GAP, Flatten, Gemm
    # 3 conv weights + biases, 2 batch norms, the dense layer: all kept as constants.
    params = (16 * 9 + 16) + (32 * 16 * 9 + 32) + (64 * 32 * 9 + 64) + (10 * 64 + 10)
    assert report.before.weight_bytes >= params * 4
    assert report.before.activation_bytes > report.after.activation_bytes > 0
    assert report.before.kernels > report.after.kernels > 0
    assert report.before.relax_ops > report.after.relax_ops
    # Both batch norms fold into their convolutions.
    assert report.rewrites["fold conv2d+multiply"] == 2
    assert "nn.batch_norm" in report.before.op_histogram
    assert "multiply" not in report.after.op_histogram
    stats = artifact.manifest.stats
    assert stats["after"]["kernels"] == report.after.kernels
    assert stats["rewrites"] == report.rewrites


def test_board_caps_fused_group_depth(digits_model):
    import dataclasses

    from edgec.targets import get_board

    host = get_board("host")
    shallow = dataclasses.replace(host, pipeline=dataclasses.replace(host.pipeline,
                                                                      fuse_max_depth=1))
    shapes = {"input": (1, 1, 8, 8)}
    default = edgec.compile(digits_model, host, input_shapes=shapes)
    capped = edgec.compile(digits_model, shallow, input_shapes=shapes)
    assert capped.report.after.kernels > default.report.after.kernels
    inputs = random_inputs(default.signature)
    np_out = [a.run(inputs)["logits"] for a in (default, capped)]
    assert abs(np_out[0] - np_out[1]).max() < 1e-5
