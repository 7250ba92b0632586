"""FloatExactDepthwise: int8 depthwise convolutions on float32 arithmetic give the same
integers as the int32 convolution, and are refused wherever float32 could round."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm import relax

from edgec.passes.float_exact_depthwise import REWRITTEN, FloatExactDepthwise
from tests.passes.conftest import run_module

RNG = np.random.default_rng(11)


def _depthwise(dtype: str = "int8", channels: int = 24, kernel: int = 3, strides=(1, 1),
               dilation=(1, 1), groups: int | None = None, layout: str = "NHWC",
               padding=(0, 0, 0, 0), weights: np.ndarray | None = None):
    size = 2 * kernel + 5
    shape = (1, size, size, channels) if layout == "NHWC" else (1, channels, size, size)
    groups = channels if groups is None else groups
    x = relax.Var("x", relax.TensorType(shape, dtype))
    if weights is None:
        weights = RNG.integers(-128, 128, (channels, kernel, kernel, channels // groups))
    w = weights.astype(np.int8)
    if layout != "NHWC":
        w = w.transpose(0, 3, 1, 2)
    bb = relax.BlockBuilder()
    with bb.function("main", [x]):
        with bb.dataflow():
            out = bb.emit_output(relax.op.nn.conv2d(
                x, relax.const(w, "int8"), strides=list(strides), dilation=list(dilation),
                padding=list(padding), groups=groups, data_layout=layout,
                kernel_layout="OHWI" if layout == "NHWC" else "OIHW", out_dtype="int32"))
        bb.emit_func_output(out)
    low, high = (-128, 128) if dtype == "int8" else (0, 256)
    return bb.get(), RNG.integers(low, high, shape).astype(dtype)


@pytest.mark.parametrize(("dtype", "kernel", "strides", "dilation"), [
    ("int8", 3, (1, 1), (1, 1)),
    ("uint8", 5, (2, 2), (1, 1)),
    ("int8", 3, (1, 2), (2, 2)),
])
def test_same_integers_as_the_int32_conv(apply, dtype, kernel, strides, dilation):
    before, x = _depthwise(dtype, kernel=kernel, strides=strides, dilation=dilation)
    after, log = apply(FloatExactDepthwise(), before)
    assert log == {REWRITTEN: 1}
    text = after.script()
    assert "R.nn.conv2d" not in text and "depthwise_conv2d_f32" in text
    np.testing.assert_array_equal(run_module(after, x), run_module(before, x))


def test_extreme_values_stay_exact(apply):
    """Every product at its largest (-128 * -128) in a 7x7 window: 802816, far from 2^24."""
    weights = np.full((16, 7, 7, 1), -128)
    before, _ = _depthwise("int8", channels=16, kernel=7, weights=weights)
    x = np.full((1, 19, 19, 16), -128, np.int8)
    after, log = apply(FloatExactDepthwise(), before)
    assert log == {REWRITTEN: 1}
    result = run_module(after, x)
    assert (result == 49 * 128 * 128).all()
    np.testing.assert_array_equal(result, run_module(before, x))


@pytest.mark.parametrize("case", ["grouped", "nchw", "implicit padding", "could round"])
def test_no_match_leaves_the_conv(apply, case):
    before, _ = {
        "grouped": lambda: _depthwise(channels=8, groups=4),
        "nchw": lambda: _depthwise(layout="NCHW"),
        "implicit padding": lambda: _depthwise(padding=(1, 1, 1, 1)),
        # 128 * 127 * 33 * 33 = 17.7M >= 2^24: float32 could round the sum
        "could round": lambda: _depthwise(channels=4, kernel=33,
                                          weights=np.full((4, 33, 33, 1), 127)),
    }[case]()
    after, log = apply(FloatExactDepthwise(), before)
    assert log == {}
    tvm.ir.assert_structural_equal(after, before)


def test_idempotent(apply):
    before, _ = _depthwise()
    once, _ = apply(FloatExactDepthwise(), before)
    twice, log = apply(FloatExactDepthwise(), once)
    assert log == {}
    tvm.ir.assert_structural_equal(twice, once)


def test_only_for_llvm_targets(apply):
    before, _ = _depthwise()
    with tvm.target.Target({"kind": "c"}):
        after, log = apply(FloatExactDepthwise(), before)
    assert log == {}
    tvm.ir.assert_structural_equal(after, before)
