"""SinkTransposes: layout changes leave no transpose pair behind."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
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


def _transpose_pairs(ir_text: str) -> tuple[int, int]:
    """(permute_dims count, permute_dims applied to another permute_dims's result)."""
    import re

    defined = {}
    for line in ir_text.splitlines():
        match = re.match(r"\s*(\w+)(?::[^=]*)? = R\.permute_dims\((\w+)", line)
        if match:
            defined[match.group(1)] = match.group(2)
    pairs = sum(1 for arg in defined.values() if arg in defined)
    return len(defined), pairs


@pytest.mark.parametrize("name", ["det", "cls"])
def test_nhwc_pipeline_on_real_models(paddleocr_models, name, tmp_path):
    """The NHWC layout phase (as on ARM boards) run on this machine: values hold, and no
    transpose is left next to its inverse."""
    import edgec
    from edgec.reference import OrtReference, compare_outputs
    from edgec.runtime.inputs import random_inputs
    from edgec.targets import get_board
    from tests.conftest import PADDLEOCR

    host = get_board("host")
    nhwc = dataclasses.replace(host, pipeline=dataclasses.replace(host.pipeline, layout="NHWC"))
    artifact = edgec.compile(paddleocr_models[name], nhwc,
                             input_shapes={"x": PADDLEOCR[name][1]}, dump_ir=tmp_path)
    assert "ConvertLayout" in artifact.manifest.pipeline["passes"]
    inputs = random_inputs(artifact.signature, seed=2)
    result = compare_outputs(artifact.run(inputs), OrtReference(paddleocr_models[name]).run(inputs),
                             atol=1e-4, rtol=0)
    assert result.passed, result.max_abs
    last_layout = sorted(p for p in tmp_path.iterdir() if "-layout-" in p.name)[-1]
    text = last_layout.read_text()
    transposes, pairs = _transpose_pairs(text)
    assert pairs == 0
    # What remains sits at real boundaries: the model input and output, operators with no
    # NHWC form (conv2d_transpose), tensors shared by several consumers.
    assert transposes <= 8 < text.count("R.nn.conv2d(")


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
