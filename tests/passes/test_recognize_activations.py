"""RecognizeActivations: each spelled-out activation becomes one operator."""

from __future__ import annotations

import math

import pytest
import tvm
from tvm.script import ir as I
from tvm.script import relax as R

from edgec.passes.recognize_activations import RecognizeActivations
from tests.passes.conftest import assert_same_values

SHAPE = (2, 8)


@I.ir_module
class Spelled:
    @R.function
    def main(x: R.Tensor((2, 8), "float32")):
        with R.dataflow():
            # hard-swish as exporters write it: x * clip(x + 3, 0, 6) / 6
            a = R.add(x, R.const(3.0, "float32"))
            b = R.clip(a, 0, 6)
            c = R.multiply(x, b)
            hswish = R.divide(c, R.const(6.0, "float32"))
            # Paddle HardSigmoid: clip(0.2 * x + 0.5, 0, 1)
            d = R.multiply(R.const(0.2, "float32"), hswish)
            e = R.add(d, R.const(0.5, "float32"))
            hsig = R.clip(e, 0, 1)
            # swish: x * sigmoid(x)
            f = R.sigmoid(hsig)
            silu = R.multiply(hsig, f)
            # GELU as PyTorch exports it: x * (erf(x / sqrt2) + 1) * 0.5
            g = R.divide(silu, R.const(math.sqrt(2.0), "float32"))
            h = R.erf(g)
            i = R.add(h, R.const(1.0, "float32"))
            j = R.multiply(silu, i)
            gelu = R.multiply(j, R.const(0.5, "float32"))
            # ReLU6 as Relu followed by Min
            k = R.nn.relu(gelu)
            relu6 = R.minimum(k, R.const(6.0, "float32"))
            R.output(relu6)
        return relu6


@I.ir_module
class Expected:
    @R.function
    def main(x: R.Tensor((2, 8), "float32")):
        with R.dataflow():
            hswish = R.edgec.hard_swish(x)
            hsig = R.edgec.hard_sigmoid(hswish, R.prim_value(0.20000000298023224),
                                        R.prim_value(0.5))
            silu = R.nn.silu(hsig)
            gelu = R.nn.gelu(silu)
            relu6 = R.clip(gelu, 0.0, 6.0)
            R.output(relu6)
        return relu6


def test_all_patterns_become_single_ops(apply):
    after, log = apply(RecognizeActivations(), Spelled)
    tvm.ir.assert_structural_equal(after, Expected)
    assert log == {"activation hard_swish": 1, "activation hard_sigmoid": 1,
                   "activation silu": 1, "activation gelu": 1, "activation clip": 1}
    assert_same_values(Spelled, after, SHAPE)


def test_pytorch_hardsigmoid_and_hardswish_from_it(apply):
    @I.ir_module
    class Torch:
        @R.function
        def main(x: R.Tensor((2, 8), "float32")):
            with R.dataflow():
                a = R.add(x, R.const(3.0, "float32"))
                b = R.clip(a, 0, 6)
                hsig = R.divide(b, R.const(6.0, "float32"))
                out = R.multiply(hsig, x)
                R.output(out)
            return out

    after, log = apply(RecognizeActivations(), Torch)
    assert log == {"activation hard_sigmoid": 1, "activation hard_swish": 1}
    assert after.script().count("R.edgec.hard_swish(x)") == 1
    assert_same_values(Torch, after, SHAPE)


def test_wrong_constants_do_not_match(apply):
    @I.ir_module
    class Almost:
        @R.function
        def main(x: R.Tensor((2, 8), "float32"), y: R.Tensor((2, 8), "float32")):
            with R.dataflow():
                a = R.add(x, R.const(3.0, "float32"))
                b = R.clip(a, 0, 6)
                c = R.multiply(x, b)
                d = R.divide(c, R.const(5.0, "float32"))     # not 6
                e = R.multiply(x, R.sigmoid(y))               # gate on another tensor
                f = R.clip(R.add(R.multiply(x, R.const(0.2, "float32")),
                                 R.const(0.5, "float32")), 0, 2)  # upper bound not 1
                o = R.add(R.add(d, e), f)
                R.output(o)
            return o

    after, log = apply(RecognizeActivations(), Almost)
    assert log == {}
    tvm.ir.assert_structural_equal(after, Almost)


def test_idempotent(apply):
    once, _ = apply(RecognizeActivations(), Spelled)
    twice, log = apply(RecognizeActivations(), once)
    assert log == {}
    tvm.ir.assert_structural_equal(once, twice)


@pytest.mark.parametrize("name", ["cls", "det"])
def test_real_models_match_onnxruntime(paddleocr_models, name):
    import onnx

    from tests.passes.model_check import compile_and_check

    artifact = compile_and_check(paddleocr_models[name], name)
    graph = onnx.load(str(paddleocr_models[name])).graph
    hard_sigmoids = sum(n.op_type == "HardSigmoid" for n in graph.node)
    clips = sum(n.op_type == "Clip" for n in graph.node)  # each the clip of a hard-swish
    rewrites = artifact.report.rewrites
    assert rewrites["activation hard_sigmoid"] == hard_sigmoids > 0
    assert rewrites["activation hard_swish"] == clips > 0
    assert "clip" not in artifact.report.after.op_histogram
