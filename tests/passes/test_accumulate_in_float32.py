"""AccumulateInFloat32: float16 matmuls and reductions accumulate in float32 and are rounded to
float16 once, as ONNX's reference and ONNX Runtime compute them."""

from __future__ import annotations

import numpy as np
import tvm
from tvm.script import ir as I
from tvm.script import relax as R

from edgec.passes.accumulate_in_float32 import AccumulateInFloat32
from tests.passes.conftest import run_module


@I.ir_module
class Before:
    @R.function
    def main(x: R.Tensor((4, 256), "float16"), w: R.Tensor((256, 8), "float16")):
        with R.dataflow():
            y = R.matmul(x, w)
            z = R.nn.softmax(y, axis=-1)
            s = R.sum(z, axis=[1])
            R.output(s)
        return s


@I.ir_module
class Expected:
    @R.function
    def main(x: R.Tensor((4, 256), "float16"), w: R.Tensor((256, 8), "float16")):
        with R.dataflow():
            y32 = R.matmul(x, w, out_dtype="float32")
            y = R.astype(y32, "float16")
            z32 = R.nn.softmax(R.astype(y, "float32"), axis=-1)
            z = R.astype(z32, "float16")
            s32 = R.sum(R.astype(z, "float32"), axis=[1])
            s = R.astype(s32, "float16")
            R.output(s)
        return s


def test_rewrites_matmul_and_reductions(apply):
    after, log = apply(AccumulateInFloat32(), Before)
    tvm.ir.assert_structural_equal(after, Expected)
    assert log["float16 accumulation in float32"] == 3


def test_idempotent_and_no_match(apply):
    once, _ = apply(AccumulateInFloat32(), Before)
    twice, log = apply(AccumulateInFloat32(), once)
    tvm.ir.assert_structural_equal(twice, once)
    assert not log

    @I.ir_module
    class Float32:
        @R.function
        def main(x: R.Tensor((4, 8), "float32"), w: R.Tensor((8, 8), "float32")):
            with R.dataflow():
                y = R.matmul(x, w)
                R.output(y)
            return y

    same, log = apply(AccumulateInFloat32(), Float32)
    assert same.same_as(Float32) and not log


def test_float16_sum_is_rounded_once():
    """A long float16 dot product: rounding every partial sum to float16 drifts; here the
    result is the exact product sum rounded once (or within one ulp of it)."""
    rng = np.random.default_rng(0)
    x = rng.random((4, 256)).astype(np.float16)
    w = rng.random((256, 8)).astype(np.float16)
    after = AccumulateInFloat32()(Before)
    got = run_module(after, x, w).astype(np.float64)
    y = (x.astype(np.float64) @ w.astype(np.float64)).astype(np.float16).astype(np.float64)
    e = np.exp(y - y.max(-1, keepdims=True))
    z = (e / e.sum(-1, keepdims=True)).astype(np.float16).astype(np.float64)
    exact = z.sum(1)
    np.testing.assert_allclose(got, exact, rtol=2.0 ** -10)
