"""DotProductConv: int8 convolutions onto dot-product kernels over packed weights, the same
integers as the int32 convolution they replace (activation shift for VNNI taken back in int32,
input channels padded to 4)."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm import relax

from edgec.passes.dot_product_conv import (DOT_PACKED, DotProductConv, choose_isa,
                                           pack_dot_weights)
from edgec.schedules.int8_dot import ISAS
from tests.passes.conftest import run_module

RNG = np.random.default_rng(7)


def _conv(dtype: str, channels: int = 3, out_channels: int = 16, layout: str = "NHWC",
          padding=(0, 0, 0, 0), groups: int = 1) -> tuple[tvm.IRModule, np.ndarray]:
    shape = (1, 9, 9, channels) if layout == "NHWC" else (1, channels, 9, 9)
    x = relax.Var("x", relax.TensorType(shape, dtype))
    w = RNG.integers(-128, 128, (out_channels, 3, 3, channels // groups)).astype(np.int8)
    if layout != "NHWC":
        w = w.transpose(0, 3, 1, 2)
    bb = relax.BlockBuilder()
    with bb.function("main", [x]):
        with bb.dataflow():
            out = bb.emit_output(relax.op.nn.conv2d(
                x, relax.const(w, "int8"), strides=[2, 1], padding=list(padding), groups=groups,
                data_layout=layout, kernel_layout="OHWI" if layout == "NHWC" else "OIHW",
                out_dtype="int32"))
        bb.emit_func_output(out)
    low, high = (-128, 128) if dtype == "int8" else (0, 256)
    return bb.get(), RNG.integers(low, high, shape).astype(dtype)


def test_packing_puts_each_instruction_block_together():
    w = RNG.integers(-128, 128, (32, 3, 3, 6)).astype(np.int8)
    packed = pack_dot_weights(w, lanes=16)
    assert packed.shape == (2, 3, 3, 2, 16, 4)
    co, kh, kw, ci = 21, 2, 1, 5
    assert packed[co // 16, kh, kw, ci // 4, co % 16, ci % 4] == w[co, kh, kw, ci]
    assert not packed[:, :, :, 1, :, 2:].any()  # channels 6, 7: zero padding


@pytest.mark.parametrize(("dtype", "isa", "shift"), [
    ("int8", "vnni", True),     # VNNI multiplies uint8: activations + 128, taken back
    ("uint8", "sdot", True),    # sdot multiplies int8: uint8 activations - 128
    ("int8", "sdot", False),
    ("uint8", "vnni8", False),
])
def test_same_integers_as_the_int32_conv(apply, dtype, isa, shift):
    before, x = _conv(dtype)
    after, log = apply(DotProductConv(isas=(ISAS[isa],)), before)
    assert log == {f"{DOT_PACKED} ({isa})": 1}
    text = after.script()
    assert "conv2d_dot" in text and "R.nn.conv2d" not in text
    assert ('"int16"' in text) == shift
    # the kernel runs unscheduled here (the rule is not involved): packing and shift only
    np.testing.assert_array_equal(run_module(after, x), run_module(before, x))


@pytest.mark.parametrize(("out_channels", "isa", "padded"), [
    (12, "vnni", 16),   # 4 wasted either way: the wider instruction
    (4, "vnni8", 8),    # 4 wasted on 8 lanes, 12 on 16
    (18, "vnni8", 24),
    (42, "vnni", 48),
])
def test_output_channels_padded_to_the_lanes_and_sliced(apply, out_channels, isa, padded):
    before, x = _conv("int8", 8, out_channels=out_channels)
    assert choose_isa((ISAS["vnni"], ISAS["vnni8"]), out_channels) is ISAS[isa]
    after, log = apply(DotProductConv(isas=(ISAS["vnni"], ISAS["vnni8"])), before)
    assert log == {f"{DOT_PACKED} ({isa})": 1}
    text = after.script()
    assert "R.strided_slice" in text and f"T.int64({padded})" in text
    np.testing.assert_array_equal(run_module(after, x), run_module(before, x))


@pytest.mark.parametrize("case", ["nchw", "implicit padding", "groups"])
def test_no_match_leaves_the_conv(apply, case):
    before, _ = {"nchw": lambda: _conv("int8", 4, layout="NCHW"),
                 "implicit padding": lambda: _conv("int8", 4, padding=(1, 1, 1, 1)),
                 "groups": lambda: _conv("int8", 4, groups=2)}[case]()
    after, log = apply(DotProductConv(isas=(ISAS["vnni"], ISAS["vnni8"])), before)
    assert log == {}
    tvm.ir.assert_structural_equal(after, before)


def test_idempotent(apply):
    before, _ = _conv("int8", 8)
    once, _ = apply(DotProductConv(isas=(ISAS["sdot"],)), before)
    twice, log = apply(DotProductConv(isas=(ISAS["sdot"],)), once)
    assert log == {}
    tvm.ir.assert_structural_equal(twice, once)


def test_boards_without_the_instruction_keep_int32_kernels(apply):
    before, _ = _conv("int8", 8)
    with tvm.target.Target({"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": "haswell"}):
        after, log = apply(DotProductConv(), before)
    assert log == {}  # AVX2 has no exact 8-bit dot product (pmaddubsw saturates): int32
