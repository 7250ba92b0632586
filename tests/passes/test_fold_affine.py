"""FoldAffineIntoConv: Before/Expected, no match, idempotence, real models."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm.script import ir as I
from tvm.script import relax as R

from edgec.passes.fold_affine import FoldAffineIntoConv
from tests.passes.conftest import assert_same_values

RNG = np.random.default_rng(0)
# Small integers and powers of two: every folding step is exact in float32, so the expected
# constants can be written down and compared bit for bit.
W = RNG.integers(-4, 5, (4, 3, 3, 3)).astype("float32")
BIAS = RNG.integers(-4, 5, (1, 4, 1, 1)).astype("float32")
SCALE = np.array([0.5, 2.0, 4.0, 0.25], "float32").reshape(1, 4, 1, 1)
SHIFT = RNG.integers(-4, 5, (1, 4, 1, 1)).astype("float32")
MEAN = RNG.integers(-4, 5, (1, 4, 1, 1)).astype("float32")


@I.ir_module
class Before:
    @R.function
    def main(x: R.Tensor((1, 3, 8, 8), "float32")):
        with R.dataflow():
            y = R.nn.conv2d(x, R.const(W), padding=1)
            b = R.add(y, R.const(BIAS))
            c = R.subtract(b, R.const(MEAN))
            d = R.divide(c, R.const(SCALE))
            e = R.multiply(R.const(SCALE), d)
            f = R.add(e, R.const(SHIFT))
            R.output(f)
        return f


def _expected():
    # subtract then divide-by-s then multiply-by-s: the scales cancel, the shifts add up.
    bias = (BIAS.astype(np.float64) - MEAN) / SCALE * SCALE + SHIFT
    weight = W.astype(np.float64) / SCALE.reshape(4, 1, 1, 1) * SCALE.reshape(4, 1, 1, 1)

    @I.ir_module
    class Expected:
        @R.function
        def main(x: R.Tensor((1, 3, 8, 8), "float32")):
            with R.dataflow():
                y = R.nn.conv2d(x, R.const(weight.astype("float32")), padding=1)
                f = R.add(y, R.const(bias.astype("float32")))
                R.output(f)
            return f

    return Expected


def test_chain_folds_into_conv(apply):
    after, log = apply(FoldAffineIntoConv(), Before)
    tvm.ir.assert_structural_equal(after, _expected())
    assert log == {"fold conv2d+subtract": 1, "fold conv2d+divide": 1,
                   "fold conv2d+multiply": 1, "fold conv2d+add": 1}
    assert_same_values(Before, after, (1, 3, 8, 8))


def test_matmul(apply):
    w = RNG.standard_normal((5, 6)).astype("float32")
    s = RNG.uniform(0.5, 2, (6,)).astype("float32")

    @I.ir_module
    class Mat:
        @R.function
        def main(x: R.Tensor((2, 5), "float32")):
            with R.dataflow():
                y = R.matmul(x, R.const(w))
                z = R.multiply(y, R.const(s))
                R.output(z)
            return z

    after, log = apply(FoldAffineIntoConv(), Mat)
    assert log == {"fold matmul+multiply": 1}
    assert "R.multiply" not in after.script()
    assert_same_values(Mat, after, (2, 5))


def test_no_match_leaves_module_alone(apply):
    spatial = RNG.standard_normal((1, 4, 8, 8)).astype("float32")

    @I.ir_module
    class NoMatch:
        @R.function
        def main(x: R.Tensor((1, 3, 8, 8), "float32"), w: R.Tensor((4, 3, 3, 3), "float32")):
            with R.dataflow():
                # a weight that is not a constant
                y = R.nn.conv2d(x, w, padding=1)
                a = R.multiply(y, R.const(SCALE))
                # a constant that varies over space, not only over channels
                z = R.nn.conv2d(x, R.const(W), padding=1)
                b = R.multiply(z, R.const(spatial))
                # a conv result used twice
                u = R.nn.conv2d(x, R.const(W), padding=1)
                c = R.multiply(u, R.const(SCALE))
                d = R.add(c, u)
                o = R.add(R.add(a, b), d)
                R.output(o)
            return o

    after, log = apply(FoldAffineIntoConv(), NoMatch)
    assert log == {}
    tvm.ir.assert_structural_equal(after, NoMatch)


def test_idempotent(apply):
    once, _ = apply(FoldAffineIntoConv(), Before)
    twice, log = apply(FoldAffineIntoConv(), once)
    assert log == {}
    tvm.ir.assert_structural_equal(once, twice)


@pytest.mark.parametrize("name", ["cls"])   # (det: the same patterns, twice the compile time)
def test_real_models_match_onnxruntime(paddleocr_models, name):
    from tests.passes.model_check import compile_and_check

    with_pass = compile_and_check(paddleocr_models[name], name)
    without = compile_and_check(paddleocr_models[name], name, disabled=("FoldAffineIntoConv",))
    assert with_pass.report.rewrites.get("fold conv2d+multiply", 0) > 10
    assert with_pass.report.after.relax_ops < without.report.after.relax_ops


def test_digits_model_batch_norms_fold(digits_model, digits_test_set):
    import edgec
    from edgec.reference import OrtReference, compare_outputs

    images, labels = digits_test_set
    artifact = edgec.compile(digits_model, "host", input_shapes={"input": images.shape})
    assert artifact.report.rewrites["fold conv2d+divide"] == 2  # both batch norms
    got = artifact.run({"input": images})
    want = OrtReference(digits_model).run({"input": images})
    assert compare_outputs(got, want, atol=1e-4, rtol=0).passed
    assert (got["logits"].argmax(1) == labels).mean() > 0.95
