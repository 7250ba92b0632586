"""SimplifyOps: no-op and repeated operations removed, values bit-identical."""

from __future__ import annotations

import numpy as np
import tvm
from tvm.script import ir as I
from tvm.script import relax as R

from edgec.passes.simplify_ops import SimplifyOps
from tests.passes.conftest import run_module


@I.ir_module
class Before:
    @R.function
    def main(x: R.Tensor((2, 3, 4), "float32")):
        with R.dataflow():
            a = R.reshape(x, R.shape([6, 4]))
            b = R.reshape(a, R.shape([2, 12]))
            c = R.reshape(b, R.shape([2, 12]))
            d = R.astype(c, "float32")
            e = R.astype(R.astype(d, "float64"), "float32")
            f = R.multiply(e, R.const(1.0, "float32"))
            g = R.add(R.const(0.0, "float32"), f)
            h = R.permute_dims(g, axes=[0, 1])
            i = R.permute_dims(R.permute_dims(h, axes=[1, 0]), axes=[1, 0])
            R.output(i)
        return i


@I.ir_module
class Expected:
    @R.function
    def main(x: R.Tensor((2, 3, 4), "float32")):
        with R.dataflow():
            b = R.reshape(x, R.shape([2, 12]))
            R.output(b)
        return b


def test_simplifies_to_one_reshape(apply):
    after, log = apply(SimplifyOps(), Before)
    tvm.ir.assert_structural_equal(after, Expected)
    assert log["simplify reshape of reshape"] >= 1
    assert {"simplify no-op astype", "simplify widen-and-back astype",
            "simplify identity arithmetic", "simplify identity permute_dims",
            "simplify cancelled permute_dims pair"} <= set(log)
    x = np.random.default_rng(0).random((2, 3, 4), dtype=np.float32)
    np.testing.assert_array_equal(run_module(after, x), run_module(Before, x))


def test_no_match(apply):
    @I.ir_module
    class Needed:
        @R.function
        def main(x: R.Tensor((2, 3), "float32")):
            with R.dataflow():
                a = R.multiply(x, R.const(2.0, "float32"))
                b = R.add(a, R.const(np.zeros((4, 2, 3), "float32")))  # broadcasts: keeps shape change
                c = R.astype(b, "float16")
                d = R.permute_dims(c, axes=[0, 2, 1])
                R.output(d)
            return d

    after, log = apply(SimplifyOps(), Needed)
    assert log == {}
    tvm.ir.assert_structural_equal(after, Needed)


def test_idempotent(apply):
    once, _ = apply(SimplifyOps(), Before)
    twice, log = apply(SimplifyOps(), once)
    assert log == {}
    tvm.ir.assert_structural_equal(once, twice)


def test_real_models_match_onnxruntime(paddleocr_models):
    from tests.passes.model_check import compile_and_check

    with_pass = compile_and_check(paddleocr_models["rec"], "rec")
    without = compile_and_check(paddleocr_models["rec"], "rec", disabled=("SimplifyOps",))
    assert any(rule.startswith("simplify ") for rule in with_pass.report.rewrites)
    assert with_pass.report.after.relax_ops < without.report.after.relax_ops
