"""edgec's operators: values, TVMScript round trip, layout conversion passes through them."""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax
from tvm.script import ir as I
from tvm.script import relax as R

from tests.passes.conftest import run_module


@I.ir_module
class Activations:
    @R.function
    def main(x: R.Tensor((2, 8), "float32")):
        with R.dataflow():
            a = R.edgec.hard_swish(x)
            b = R.edgec.hard_sigmoid(a, R.prim_value(0.2), R.prim_value(0.5))
            R.output(b)
        return b


def test_values_match_their_definitions():
    x = np.linspace(-5, 5, 16, dtype="float32").reshape(2, 8)
    hard_swish = x * np.clip(x + 3, 0, 6) / 6
    expected = np.clip(0.2 * hard_swish + 0.5, 0, 1)
    np.testing.assert_allclose(run_module(Activations, x), expected, rtol=1e-6, atol=1e-7)


def test_tvmscript_round_trip():
    reparsed = tvm.script.from_source(Activations.script())
    tvm.ir.assert_structural_equal(reparsed, Activations)


def _conv_act_conv(activation):
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 3, 8, 8), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit(relax.op.nn.conv2d(x, relax.const(np.ones((4, 3, 3, 3), "float32")),
                                           padding=1))
            z = bb.emit(activation(y))
            o = bb.emit_output(relax.op.nn.conv2d(z, relax.const(np.ones((4, 4, 1, 1),
                                                                          "float32"))))
        bb.emit_func_output(o)
    return bb.get()


def test_convert_layout_treats_them_like_builtin_elementwise_ops():
    from edgec.passes import ops

    convert = relax.transform.ConvertLayout({"relax.nn.conv2d": ["NHWC", "OHWI"]})
    ours = convert(_conv_act_conv(ops.hard_swish)).script()
    builtin = convert(_conv_act_conv(relax.op.nn.relu)).script()
    assert ours.count("R.permute_dims") == builtin.count("R.permute_dims") == 4
    assert 'R.edgec.hard_swish(lv' in ours
