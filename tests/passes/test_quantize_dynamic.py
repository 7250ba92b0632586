"""QuantizeDynamic: matmuls on int8 with activations quantized per call, as ONNX's
DynamicQuantizeLinear + MatMulInteger define it (checked against a NumPy transcription)."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm import relax

from edgec.passes.quantize_dynamic import KERNEL, QuantizeDynamic, weight_scales
from tests.passes.conftest import run_module

RNG = np.random.default_rng(9)


def _matmul(weight: np.ndarray, rows: int = 7) -> tvm.IRModule:
    x = relax.Var("x", relax.TensorType((rows, weight.shape[0]), "float32"))
    bb = relax.BlockBuilder()
    with bb.function("main", [x]):
        with bb.dataflow():
            out = bb.emit_output(relax.op.matmul(x, relax.const(weight, "float32")))
        bb.emit_func_output(out)
    return bb.get()


def reference(x: np.ndarray, weight: np.ndarray, per_channel: bool) -> np.ndarray:
    """DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(s_x * s_w), in float32."""
    f32 = np.float32
    lo, hi = min(f32(x.min()), f32(0)), max(f32(x.max()), f32(0))
    s_x = f32(1) if hi == lo else f32(hi - lo) / f32(255)
    z_x = np.rint(np.clip(-lo / s_x, 0, 255)).astype(np.int32)
    x_q = np.clip(np.rint(x / s_x) + z_x, 0, 255).astype(np.int32)
    s_w = weight_scales(weight, per_channel)
    w_q = np.clip(np.rint(weight / s_w), -127, 127).astype(np.int32)
    acc = (x_q - z_x) @ w_q
    return acc.astype(f32) * (s_x * s_w)


@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize("shift", [0.0, 2.0])   # all-positive inputs: zero point 0
def test_same_numbers_as_the_onnx_definition(apply, per_channel, shift):
    weight = RNG.standard_normal((48, 20)).astype(np.float32)
    before = _matmul(weight)
    after, log = apply(QuantizeDynamic(per_channel=per_channel), before)
    assert log == {KERNEL: 1}
    text = after.script()
    assert '"uint8"' in text and 'out_dtype="int32"' in text and "R.nn.conv2d" in text
    x = (RNG.standard_normal((7, 48)) + shift).astype(np.float32)
    got = run_module(after, x)
    np.testing.assert_allclose(got, reference(x, weight, per_channel), rtol=1e-6, atol=1e-6)
    # int8 rounding of both operands: close to the float matmul
    assert np.abs(got - x @ weight).max() < 0.05 * np.abs(x @ weight).max()


def test_all_zero_input_gives_zero(apply):
    after, _ = apply(QuantizeDynamic(), _matmul(RNG.standard_normal((8, 4)).astype(np.float32)))
    assert not run_module(after, np.zeros((7, 8), np.float32)).any()


def test_idempotent(apply):
    before = _matmul(RNG.standard_normal((16, 8)).astype(np.float32))
    once, _ = apply(QuantizeDynamic(), before)
    twice, log = apply(QuantizeDynamic(), once)
    assert log == {}
    tvm.ir.assert_structural_equal(twice, once)
