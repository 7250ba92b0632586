"""SplitTransposedConv: kernel == stride transposed convs become a 1x1 conv and a pixel
shuffle, with the same values."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm import relax

from edgec.passes.split_transposed_conv import SplitTransposedConv
from tests.passes.conftest import assert_same_values, relax_ops


def _module(ci=6, co=3, k=2, stride=2, padding=0, hw=5, groups=1):
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((ci, co // groups, k, k)).astype("float32")
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, ci, hw, hw), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit(relax.op.nn.conv2d_transpose(x, relax.const(weight), strides=stride,
                                                     padding=padding, groups=groups))
            y = bb.emit(relax.op.nn.relu(y))
            out = bb.emit_output(y)
        bb.emit_func_output(out)
    return bb.get(), (1, ci, hw, hw)



@pytest.mark.parametrize("k", [2, 3])
def test_kernel_equal_to_stride_splits(apply, k):
    mod, shape = _module(k=k, stride=k)
    after, log = apply(SplitTransposedConv(), mod)
    assert log == {"split conv2d_transpose (kernel = stride)": 1}
    ops = relax_ops(after)
    assert "relax.nn.conv2d_transpose" not in ops and "relax.nn.conv2d" in ops
    assert "relax.permute_dims" in ops
    assert_same_values(mod, after, shape)


@pytest.mark.parametrize("kwargs", [dict(k=3, stride=2), dict(k=2, stride=2, padding=1),
                                    dict(ci=6, co=6, groups=3)])
def test_other_transposed_convs_are_left_alone(apply, kwargs):
    mod, _ = _module(**kwargs)
    after, log = apply(SplitTransposedConv(), mod)
    assert log == {}
    tvm.ir.assert_structural_equal(after, mod)


def test_det_model_matches_onnxruntime(paddleocr_models):
    from tests.passes.model_check import compile_and_check

    artifact = compile_and_check(paddleocr_models["det"], "det")
    assert artifact.report.rewrites["split conv2d_transpose (kernel = stride)"] == 2
