"""FoldInputAffine: a scale/shift before a conv or matmul folds into its weights."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm.script import ir as I
from tvm.script import relax as R

from edgec.passes.fold_input_affine import FoldInputAffine
from tests.passes.conftest import assert_same_values

RNG = np.random.default_rng(1)
W1 = RNG.integers(-3, 4, (6, 4, 1, 1)).astype("float32")
WD = RNG.integers(-3, 4, (4, 1, 3, 3)).astype("float32")       # depthwise
S = np.array([0.5, 2.0, 4.0, 1.0], "float32").reshape(1, 4, 1, 1)
T = np.array([1.0, -2.0, 3.0, 0.0], "float32").reshape(1, 4, 1, 1)


@I.ir_module
class Pointwise:
    @R.function
    def main(x: R.Tensor((1, 4, 5, 5), "float32")):
        with R.dataflow():
            a = R.multiply(x, R.const(S))
            b = R.add(a, R.const(T))
            y = R.nn.conv2d(b, R.const(W1))
            R.output(y)
        return y


def test_pointwise_conv_takes_scale_and_shift(apply):
    weight = W1 * S.reshape(1, 4, 1, 1)
    bias = np.einsum("oikl,i->o", W1.astype(np.float64), T.reshape(4)).astype("float32")

    @I.ir_module
    class Expected:
        @R.function
        def main(x: R.Tensor((1, 4, 5, 5), "float32")):
            with R.dataflow():
                c = R.nn.conv2d(x, R.const(weight))
                y = R.add(c, R.const(bias.reshape(1, 6, 1, 1)))
                R.output(y)
            return y

    after, log = apply(FoldInputAffine(), Pointwise)
    tvm.ir.assert_structural_equal(after, Expected)
    assert log == {"fold input affine into conv2d": 1}
    assert_same_values(Pointwise, after, (1, 4, 5, 5))


def test_padded_depthwise_conv_keeps_the_shift_before_it(apply):
    @I.ir_module
    class Padded:
        @R.function
        def main(x: R.Tensor((1, 4, 5, 5), "float32")):
            with R.dataflow():
                a = R.multiply(R.const(S), x)
                b = R.add(a, R.const(T))
                y = R.nn.conv2d(b, R.const(WD), padding=1, groups=4)
                R.output(y)
            return y

    after, log = apply(FoldInputAffine(), Padded)
    assert log == {"fold input affine into conv2d": 1}
    text = after.script()
    assert "R.multiply" not in text and text.count("R.add") == 1
    assert_same_values(Padded, after, (1, 4, 5, 5))


def test_matmul_after_layer_norm_affine(apply):
    w = RNG.integers(-3, 4, (4, 3)).astype("float32")
    gamma = np.array([0.5, 2.0, 1.0, 4.0], "float32")
    beta = np.array([1.0, 0.0, -1.0, 2.0], "float32")

    @I.ir_module
    class Mat:
        @R.function
        def main(x: R.Tensor((2, 4), "float32")):
            with R.dataflow():
                a = R.multiply(x, R.const(gamma))
                b = R.add(a, R.const(beta))
                y = R.matmul(b, R.const(w))
                R.output(y)
            return y

    after, log = apply(FoldInputAffine(), Mat)
    assert log == {"fold input affine into matmul": 1}
    assert "R.multiply" not in after.script()
    assert_same_values(Mat, after, (2, 4))


def test_no_match_when_the_affine_is_shared(apply):
    @I.ir_module
    class Shared:
        @R.function
        def main(x: R.Tensor((1, 4, 5, 5), "float32")):
            with R.dataflow():
                a = R.multiply(x, R.const(S))
                y = R.nn.conv2d(a, R.const(W1))
                z = R.nn.relu(a)
                R.output(y, z)
            return (y, z)

    after, log = apply(FoldInputAffine(), Shared)
    assert log == {}
    tvm.ir.assert_structural_equal(after, Shared)


def test_idempotent(apply):
    once, _ = apply(FoldInputAffine(), Pointwise)
    twice, log = apply(FoldInputAffine(), once)
    assert log == {}
    tvm.ir.assert_structural_equal(once, twice)


@pytest.mark.parametrize("name", ["rec", "det"])
def test_real_models_match_onnxruntime(paddleocr_models, name):
    from tests.passes.model_check import compile_and_check

    artifact = compile_and_check(paddleocr_models[name], name)
    assert artifact.report.rewrites["fold input affine into conv2d"] > 10
