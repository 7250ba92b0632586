"""QuantizeWeights: weight-only int8 / int4 matmuls give the float matmul of the weights they
store (exactly, up to float rounding), and their packing round-trips."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm import relax

from edgec.passes.quantize_weights import (KERNEL, QuantizeWeights, dequantize_int4,
                                           quantize_int4, quantize_int8)
from tests.passes.conftest import run_module

RNG = np.random.default_rng(5)


def _matmul(weight: np.ndarray, lead=(3, 5), const_weight: bool = True) -> tvm.IRModule:
    x = relax.Var("x", relax.TensorType((*lead, weight.shape[0]), "float32"))
    params = [x]
    if const_weight:
        w = relax.const(weight, "float32")
    else:
        w = relax.Var("w", relax.TensorType(weight.shape, "float32"))
        params.append(w)
    bb = relax.BlockBuilder()
    with bb.function("main", params):
        with bb.dataflow():
            out = bb.emit_output(relax.op.matmul(x, w))
        bb.emit_func_output(out)
    return bb.get()


def test_int4_packing_round_trips():
    weight = RNG.standard_normal((37, 6)).astype(np.float32)  # odd rows, a partial group
    packed, scale = quantize_int4(weight, group=8)
    assert packed.shape == (19, 6) and packed.dtype == np.uint8 and scale.shape == (5, 6)
    restored = dequantize_int4(packed, scale, rows=37, group=8)
    step = np.repeat(scale, 8, axis=0)[:37]
    # every weight within the scale's range is rounded to its nearest level
    inside = np.abs(weight) <= 7 * step
    assert np.all(np.abs(restored - weight)[inside] <= step[inside] / 2 + 1e-6)
    assert np.all(np.abs(restored) <= 8 * step + 1e-6)
    # the chosen scales have no more squared error than plain max|W| / 7 in any group
    top = np.abs(np.pad(weight, [(0, 3), (0, 0)]).reshape(5, 8, 6)).max(axis=1)
    plain = np.repeat(top / 7, 8, axis=0)[:37]
    plain_restored = np.clip(np.rint(weight / plain), -8, 7) * plain
    for g in range(5):
        rows = slice(8 * g, min(8 * g + 8, 37))
        chosen = ((restored[rows] - weight[rows]) ** 2).sum(axis=0)
        assert np.all(chosen <= ((plain_restored[rows] - weight[rows]) ** 2).sum(axis=0) + 1e-9)


@pytest.mark.parametrize(("bits", "rows"), [(8, 64), (4, 64), (4, 50)])
def test_kernel_computes_the_stored_weights_matmul(apply, bits, rows):
    weight = RNG.standard_normal((rows, 24)).astype(np.float32)
    before = _matmul(weight)
    after, log = apply(QuantizeWeights(bits=bits, group=16), before)
    groups = ", groups of 16" if bits == 4 else ""
    assert log == {KERNEL.format(bits=f"int{bits}", groups=groups): 1}
    assert "R.matmul" not in after.script()
    x = RNG.standard_normal((3, 5, rows)).astype(np.float32)
    if bits == 8:
        q, scale = quantize_int8(weight)
        stored = q.astype(np.float32) * scale
    else:
        stored = dequantize_int4(*quantize_int4(weight, 16), rows=rows, group=16)
    np.testing.assert_allclose(run_module(after, x), x @ stored, rtol=1e-4, atol=1e-4)
    # and the weights' rounding is all that separates it from the float matmul
    error = np.abs(run_module(after, x) - run_module(before, x)).max()
    assert error < (0.05 if bits == 8 else 0.6) * np.abs(x @ weight).max()


def test_non_constant_weights_are_left_alone(apply):
    before = _matmul(np.ones((8, 4), np.float32), const_weight=False)
    after, log = apply(QuantizeWeights(bits=8), before)
    assert log == {}
    tvm.ir.assert_structural_equal(after, before)


def test_idempotent(apply):
    before = _matmul(RNG.standard_normal((16, 8)).astype(np.float32))
    once, _ = apply(QuantizeWeights(bits=4, group=8), before)
    twice, log = apply(QuantizeWeights(bits=4, group=8), once)
    assert log == {}
    tvm.ir.assert_structural_equal(twice, once)
