"""SinkTransposes: layout changes leave no transpose pair behind."""

from __future__ import annotations


import numpy as np
import tvm
from tvm.script import ir as I
from tvm.script import relax as R

from edgec.passes.sink_transposes import SinkTransposes
from tests.passes.conftest import assert_same_values

SCALE = np.arange(1, 9, dtype="float32").reshape(1, 8, 1, 1)
SHIFT = np.ones((1,), "float32")


@I.ir_module
class Before:
    @R.function
    def main(x: R.Tensor((1, 4, 4, 8), "float32")):
        with R.dataflow():
            a = R.permute_dims(x, axes=[0, 3, 1, 2])
            b = R.multiply(R.const(SCALE), a)
            c = R.edgec.hard_swish(b)
            d = R.add(c, R.const(SHIFT))
            e = R.mean(d, axis=[2, 3], keepdims=True)
            f = R.permute_dims(e, axes=[0, 2, 3, 1])
            R.output(f)
        return f


@I.ir_module
class Expected:
    @R.function
    def main(x: R.Tensor((1, 4, 4, 8), "float32")):
        with R.dataflow():
            b = R.multiply(R.const(SCALE.reshape(1, 1, 1, 8)), x)
            c = R.edgec.hard_swish(b)
            d = R.add(c, R.const(SHIFT.reshape(1, 1, 1, 1)))
            e = R.mean(d, axis=[1, 2], keepdims=True)
            R.output(e)
        return e


def test_transposes_sink_and_cancel(apply):
    after, log = apply(SinkTransposes(), Before)
    tvm.ir.assert_structural_equal(after, Expected)
    assert log == {"sink permute_dims": 4, "simplify cancelled permute_dims pair": 1}
    assert_same_values(Before, after, (1, 4, 4, 8))


def test_shared_transpose_is_not_duplicated(apply):
    @I.ir_module
    class Shared:
        @R.function
        def main(x: R.Tensor((1, 4, 4, 8), "float32")):
            with R.dataflow():
                a = R.permute_dims(x, axes=[0, 3, 1, 2])
                b = R.multiply(a, R.const(SCALE))
                c = R.nn.relu(a)
                R.output(b, c)
            return (b, c)

    after, log = apply(SinkTransposes(), Shared)
    assert log == {}
    tvm.ir.assert_structural_equal(after, Shared)


def test_idempotent(apply):
    once, _ = apply(SinkTransposes(), Before)
    twice, log = apply(SinkTransposes(), once)
    assert log == {}
    tvm.ir.assert_structural_equal(once, twice)


def test_int8_requantize_chain_stays_in_the_new_layout(apply):
    """The integer epilogue QDQToInteger makes (round, clip with two bounds, astype, zero-point
    pad, dequantize) lets the transpose through: the int8 graph stays NHWC between convs."""

    @I.ir_module
    class Chain:
        @R.function
        def main(x: R.Tensor((1, 4, 4, 8), "float32")):
            with R.dataflow():
                a = R.permute_dims(x, axes=[0, 3, 1, 2])
                b = R.edgec.round_even(R.multiply(a, R.const(SCALE * 9.0)))
                c = R.clip(b, -128.0, 127.0)
                d = R.astype(c, "int8")
                e = R.nn.pad(d, pad_width=[0, 0, 0, 0, 1, 1, 2, 0], pad_value=-5.0)
                f = R.dequantize(e, R.const(0.5, "float32"), R.const(-5, "int8"), axis=1)
                g = R.permute_dims(f, axes=[0, 2, 3, 1])
                R.output(g)
            return g

    after, log = apply(SinkTransposes(), Chain)
    assert "permute_dims" not in after.script()
    assert log["sink permute_dims"] == 6
    pad = [b.value for b in after["main"].body.blocks[0].bindings
           if getattr(b.value.op, "name", "") == "relax.nn.pad"][0]
    assert [int(w) for w in pad.attrs.pad_width] == [0, 0, 1, 1, 2, 0, 0, 0]
    assert_same_values(Chain, after, (1, 4, 4, 8))


GATE = np.linspace(0.5, 1.5, 8, dtype="float32").reshape(1, 8, 1, 1)


def test_shared_transpose_moves_when_every_path_meets_its_inverse(apply):
    """Squeeze-and-excitation in NCHW between NHWC convs: the feature map is read by a mean
    and by the multiply; every path ends at the transpose back, so all of them cancel."""

    @I.ir_module
    class SqueezeExcite:
        @R.function
        def main(x: R.Tensor((1, 4, 4, 8), "float32")):
            with R.dataflow():
                a = R.permute_dims(x, axes=[0, 3, 1, 2])
                m = R.mean(a, axis=[2, 3], keepdims=True)
                g = R.sigmoid(R.multiply(m, R.const(GATE)))
                b = R.multiply(a, g)
                c = R.add(a, b)
                d = R.permute_dims(c, axes=[0, 2, 3, 1])
                R.output(d)
            return d

    after, log = apply(SinkTransposes(), SqueezeExcite)
    assert "permute_dims" not in after.script()
    assert log["simplify cancelled permute_dims pair"] >= 1
    assert_same_values(SqueezeExcite, after, (1, 4, 4, 8))


def test_resize_and_concat_take_the_layout(apply):
    """A feature pyramid's nearest upsampling and channel concat run in NHWC."""

    @I.ir_module
    class Pyramid:
        @R.function
        def main(x: R.Tensor((1, 4, 4, 8), "float32"), y: R.Tensor((1, 8, 8, 8), "float32")):
            with R.dataflow():
                a = R.permute_dims(x, axes=[0, 3, 1, 2])
                b = R.permute_dims(y, axes=[0, 3, 1, 2])
                up = R.image.resize2d(a, R.shape([8, 8]), layout="NCHW",
                                      method="nearest_neighbor",
                                      coordinate_transformation_mode="asymmetric",
                                      rounding_method="floor")
                c = R.concat((up, b), axis=1)
                d = R.permute_dims(c, axes=[0, 2, 3, 1])
                R.output(d)
            return d

    after, _ = apply(SinkTransposes(), Pyramid)
    text = after.script()
    assert "permute_dims" not in text and 'layout="NHWC"' in text and "axis=3" in text
    rng = np.random.default_rng(0)
    from tests.passes.conftest import run_module

    arrays = [rng.standard_normal(s).astype("float32") for s in ((1, 4, 4, 8), (1, 8, 8, 8))]
    np.testing.assert_array_equal(run_module(after, *arrays), run_module(Pyramid, *arrays))


def test_depth_to_space_runs_in_the_layout_of_its_input(apply):
    """The pixel shuffle SplitTransposedConv writes (NCHW) on an NHWC tensor becomes the
    NHWC shuffle, and the transposes around it cancel."""

    @I.ir_module
    class Shuffle:
        @R.function
        def main(x: R.Tensor((1, 5, 6, 12), "float32")):
            with R.dataflow():
                a = R.permute_dims(x, axes=[0, 3, 1, 2])
                b = R.reshape(a, R.shape([1, 3, 2, 2, 5, 6]))
                c = R.permute_dims(b, axes=[0, 1, 4, 2, 5, 3])
                d = R.reshape(c, R.shape([1, 3, 10, 12]))
                e = R.nn.relu(d)
                f = R.permute_dims(e, axes=[0, 2, 3, 1])
                R.output(f)
            return f

    after, _ = apply(SinkTransposes(), Shuffle)
    text = after.script()
    assert text.count("permute_dims") == 1 and "axes=[0, 1, 4, 2, 5, 3]" in text
    assert_same_values(Shuffle, after, (1, 5, 6, 12))
