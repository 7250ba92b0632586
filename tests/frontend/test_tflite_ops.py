"""TFLite operators one by one: models written by ``tests/tflite_builder.py``, compiled by
edgec and compared with LiteRT running the same bytes (float: 1e-4 of the output's magnitude)."""

from __future__ import annotations

import numpy as np
import pytest

import edgec
from edgec.reference.litert_ref import LiteRTReference
from tests.tflite_builder import TFLiteBuilder

RNG = np.random.default_rng(0)
NONE, RELU, RELU6 = 0, 1, 3  # ActivationFunctionType
SAME, VALID = 0, 1


def _w(*shape, scale=0.5):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def conv_same_relu6():
    b = TFLiteBuilder()
    x, y = b.input("x", [1, 9, 9, 3]), b.tensor("y", [1, 5, 5, 4])
    b.op("CONV_2D", [x, b.const("w", _w(4, 3, 3, 3)), b.const("b", _w(4))], [y],
         "Conv2DOptions", Padding=SAME, StrideW=2, StrideH=2, FusedActivationFunction=RELU6,
         DilationWFactor=1, DilationHFactor=1)
    return b, [x], [y]


def depthwise_multiplier():
    b = TFLiteBuilder()
    x, y = b.input("x", [1, 8, 8, 3]), b.tensor("y", [1, 6, 6, 6])
    b.op("DEPTHWISE_CONV_2D", [x, b.const("w", _w(1, 3, 3, 6)), b.const("b", _w(6))], [y],
         "DepthwiseConv2DOptions", Padding=VALID, StrideW=1, StrideH=1, DepthMultiplier=2,
         FusedActivationFunction=RELU, DilationWFactor=1, DilationHFactor=1)
    return b, [x], [y]


def fully_connected():
    b = TFLiteBuilder()
    x, y = b.input("x", [2, 16]), b.tensor("y", [2, 5])
    b.op("FULLY_CONNECTED", [x, b.const("w", _w(5, 16)), b.const("b", _w(5))], [y],
         "FullyConnectedOptions", FusedActivationFunction=NONE)
    return b, [x], [y]


def add_broadcast_relu():
    b = TFLiteBuilder()
    x, y = b.input("x", [1, 4, 4, 8]), b.tensor("y", [1, 4, 4, 8])
    b.op("ADD", [x, b.const("c", _w(8))], [y], "AddOptions", FusedActivationFunction=RELU)
    return b, [x], [y]


def mul_sub_div():
    b = TFLiteBuilder()
    x, t1, t2, y = (b.input("x", [2, 6]), b.tensor("t1", [2, 6]), b.tensor("t2", [2, 6]),
                    b.tensor("y", [2, 6]))
    b.op("MUL", [x, b.const("m", _w(6))], [t1], "MulOptions", FusedActivationFunction=NONE)
    b.op("SUB", [t1, x], [t2], "SubOptions", FusedActivationFunction=NONE)
    b.op("DIV", [t2, b.const("d", np.full(6, 1.5, np.float32))], [y], "DivOptions",
         FusedActivationFunction=NONE)
    return b, [x], [y]


def pools_same():
    b = TFLiteBuilder()
    x, t, y = b.input("x", [1, 7, 7, 4]), b.tensor("t", [1, 4, 4, 4]), b.tensor("y", [1, 2, 2, 4])
    b.op("AVERAGE_POOL_2D", [x], [t], "Pool2DOptions", Padding=SAME, StrideW=2, StrideH=2,
         FilterWidth=3, FilterHeight=3, FusedActivationFunction=NONE)
    b.op("MAX_POOL_2D", [t], [y], "Pool2DOptions", Padding=SAME, StrideW=2, StrideH=2,
         FilterWidth=2, FilterHeight=2, FusedActivationFunction=NONE)
    return b, [x], [y]


def softmax_beta():
    b = TFLiteBuilder()
    x, y = b.input("x", [2, 10]), b.tensor("y", [2, 10])
    b.op("SOFTMAX", [x], [y], "SoftmaxOptions", Beta=0.5)
    return b, [x], [y]


def reshape_transpose_concat():
    b = TFLiteBuilder()
    x, r, t, y = (b.input("x", [2, 12]), b.tensor("r", [2, 3, 4]), b.tensor("t", [2, 4, 3]),
                  b.tensor("y", [2, 8, 3]))
    b.op("RESHAPE", [x, b.const("s", np.array([2, 3, 4], np.int32))], [r])
    b.op("TRANSPOSE", [r, b.const("p", np.array([0, 2, 1], np.int32))], [t])
    b.op("CONCATENATION", [t, t], [y], "ConcatenationOptions", Axis=1,
         FusedActivationFunction=NONE)
    return b, [x], [y]


def mean_keepdims():
    b = TFLiteBuilder()
    x, y = b.input("x", [1, 5, 5, 6]), b.tensor("y", [1, 1, 1, 6])
    b.op("MEAN", [x, b.const("axes", np.array([1, 2], np.int32))], [y], "ReducerOptions",
         KeepDims=True)
    return b, [x], [y]


def pad_and_activations():
    b = TFLiteBuilder()
    x, p, s, h, y = (b.input("x", [1, 4, 4, 2]), b.tensor("p", [1, 6, 6, 2]),
                     b.tensor("s", [1, 6, 6, 2]), b.tensor("h", [1, 6, 6, 2]),
                     b.tensor("y", [1, 6, 6, 2]))
    b.op("PAD", [x, b.const("pads", np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32))], [p])
    b.op("LOGISTIC", [p], [s])
    b.op("HARD_SWISH", [s], [h])
    b.op("TANH", [h], [y])
    return b, [x], [y]


def resize_bilinear_half_pixel():
    b = TFLiteBuilder()
    x, y = b.input("x", [1, 4, 4, 3]), b.tensor("y", [1, 8, 8, 3])
    b.op("RESIZE_BILINEAR", [x, b.const("size", np.array([8, 8], np.int32))], [y],
         "ResizeBilinearOptions", AlignCorners=False, HalfPixelCenters=True)
    return b, [x], [y]


def resize_nearest():
    b = TFLiteBuilder()
    x, y = b.input("x", [1, 3, 3, 2]), b.tensor("y", [1, 6, 6, 2])
    b.op("RESIZE_NEAREST_NEIGHBOR", [x, b.const("size", np.array([6, 6], np.int32))], [y],
         "ResizeNearestNeighborOptions", AlignCorners=False, HalfPixelCenters=False)
    return b, [x], [y]


def leaky_relu_prelu():
    b = TFLiteBuilder()
    x, t, y = b.input("x", [1, 3, 3, 4]), b.tensor("t", [1, 3, 3, 4]), b.tensor("y", [1, 3, 3, 4])
    b.op("LEAKY_RELU", [x], [t], "LeakyReluOptions", Alpha=0.2)
    b.op("PRELU", [t, b.const("alpha", np.abs(_w(1, 1, 4)))], [y])
    return b, [x], [y]


def strided_slice_squeeze():
    b = TFLiteBuilder()
    x, s, y = b.input("x", [1, 6, 8]), b.tensor("s", [1, 3, 4]), b.tensor("y", [3, 4])
    b.op("STRIDED_SLICE", [x, b.const("begin", np.array([0, 0, 1], np.int32)),
                           b.const("end", np.array([1, 6, 8], np.int32)),
                           b.const("strides", np.array([1, 2, 2], np.int32))], [s],
         "StridedSliceOptions", BeginMask=0, EndMask=0)
    b.op("SQUEEZE", [s], [y], "SqueezeOptions", SqueezeDims=[0])
    return b, [x], [y]


def batch_matmul():
    b = TFLiteBuilder()
    x, w, y = b.input("x", [2, 3, 4]), b.input("w", [2, 4, 5]), b.tensor("y", [2, 3, 5])
    b.op("BATCH_MATMUL", [x, w], [y], "BatchMatMulOptions", AdjX=False, AdjY=False)
    return b, [x, w], [y]


def transpose_conv():
    b = TFLiteBuilder()
    x, y = b.input("x", [1, 4, 4, 3]), b.tensor("y", [1, 8, 8, 2])
    b.op("TRANSPOSE_CONV", [b.const("shape", np.array([1, 8, 8, 2], np.int32)),
                            b.const("w", _w(2, 2, 2, 3)), x], [y],
         "TransposeConvOptions", Padding=SAME, StrideW=2, StrideH=2)
    return b, [x], [y]


def _split_maximum(axis_shape):
    b = TFLiteBuilder()
    x, a, c, y = (b.input("x", [2, 8]), b.tensor("a", [2, 4]), b.tensor("c", [2, 4]),
                  b.tensor("y", [2, 4]))
    b.op("SPLIT", [b.const("axis", np.array(1, np.int32).reshape(axis_shape)), x], [a, c],
         "SplitOptions", NumSplits=2)
    b.op("MAXIMUM", [a, c], [y])
    return b, [x], [y]


def split_maximum():
    return _split_maximum(())


def split_axis_as_vector():  # converters write the axis as [1] too
    return _split_maximum((1,))


MODELS = {f.__name__: f for f in (
    conv_same_relu6, depthwise_multiplier, fully_connected, add_broadcast_relu, mul_sub_div,
    pools_same, softmax_beta, reshape_transpose_concat, mean_keepdims, pad_and_activations,
    resize_bilinear_half_pixel, resize_nearest, leaky_relu_prelu, strided_slice_squeeze,
    batch_matmul, transpose_conv, split_maximum, split_axis_as_vector)}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_operator_agrees_with_litert(name):
    builder, inputs, outputs = MODELS[name]()
    data = builder.finish(inputs, outputs)
    reference = LiteRTReference(data)
    artifact = edgec.compile(data, "host", tuning_logs=False)
    feeds = {spec.name: RNG.standard_normal(spec.shape).astype(np.float32)
             for spec in artifact.signature.inputs}
    got, want = artifact.run(feeds), reference.run(feeds)
    assert list(got) == list(want)
    for key, ref in want.items():
        scale = max(float(np.abs(ref).max()), 1e-6)
        assert np.abs(got[key] - ref).max() <= 1e-4 * scale, (key, got[key], ref)


# -- int8 operators (full-integer models as the TFLite converter writes them) -----------------

def _q(scale, zero, axis=0):
    return {"scale": scale, "zero_point": zero, "axis": axis}


def _int8_weights(*shape):
    return RNG.integers(-127, 128, shape).astype(np.int8)


def int8_conv_per_channel_relu6():
    b = TFLiteBuilder()
    x = b.input("x", [1, 8, 8, 3], "int8", _q(0.05, -10))
    y = b.tensor("y", [1, 8, 8, 4], "int8", _q(0.04, -128))
    w_scale = np.array([0.002, 0.003, 0.004, 0.0025], np.float32)
    w = b.const("w", _int8_weights(4, 3, 3, 3), _q(w_scale, np.zeros(4, np.int64), 0))
    bias = b.const("b", RNG.integers(-500, 500, 4).astype(np.int32),
                   _q(0.05 * w_scale, np.zeros(4, np.int64)))
    b.op("CONV_2D", [x, w, bias], [y], "Conv2DOptions", Padding=SAME, StrideW=1, StrideH=1,
         FusedActivationFunction=RELU6, DilationWFactor=1, DilationHFactor=1)
    return b, [x], [y]


def int8_depthwise_and_pool():
    b = TFLiteBuilder()
    x = b.input("x", [1, 8, 8, 4], "int8", _q(0.05, 3))
    t = b.tensor("t", [1, 8, 8, 4], "int8", _q(0.06, -5))
    y = b.tensor("y", [1, 4, 4, 4], "int8", _q(0.06, -5))
    w_scale = np.array([0.01, 0.02, 0.015, 0.012], np.float32)
    w = b.const("w", _int8_weights(1, 3, 3, 4), _q(w_scale, np.zeros(4, np.int64), 3))
    bias = b.const("b", RNG.integers(-300, 300, 4).astype(np.int32),
                   _q(0.05 * w_scale, np.zeros(4, np.int64)))
    b.op("DEPTHWISE_CONV_2D", [x, w, bias], [t], "DepthwiseConv2DOptions", Padding=SAME,
         StrideW=1, StrideH=1, DepthMultiplier=1, FusedActivationFunction=NONE,
         DilationWFactor=1, DilationHFactor=1)
    b.op("AVERAGE_POOL_2D", [t], [y], "Pool2DOptions", Padding=VALID, StrideW=2, StrideH=2,
         FilterWidth=2, FilterHeight=2, FusedActivationFunction=NONE)
    return b, [x], [y]


def int8_add_concat():
    """An add of two tensors with different scales; the concat's inputs share the output's
    (the TFLite quantization spec requires it)."""
    b = TFLiteBuilder()
    x1 = b.input("x1", [1, 4, 4, 2], "int8", _q(0.12, -3))
    x2 = b.input("x2", [1, 4, 4, 2], "int8", _q(0.03, 20))
    s = b.tensor("s", [1, 4, 4, 2], "int8", _q(0.12, -3))
    y = b.tensor("y", [1, 4, 4, 4], "int8", _q(0.12, -3))
    b.op("ADD", [x1, x2], [s], "AddOptions", FusedActivationFunction=NONE)
    b.op("CONCATENATION", [s, x1], [y], "ConcatenationOptions", Axis=3,
         FusedActivationFunction=NONE)
    return b, [x1, x2], [y]


def int8_fully_connected_softmax():
    b = TFLiteBuilder()
    x = b.input("x", [1, 16], "int8", _q(0.05, -2))
    t = b.tensor("t", [1, 6], "int8", _q(0.2, 5))
    y = b.tensor("y", [1, 6], "int8", _q(1 / 256, -128))
    w = b.const("w", _int8_weights(6, 16), _q(0.01, 0))
    bias = b.const("b", RNG.integers(-200, 200, 6).astype(np.int32), _q(0.0005, 0))
    b.op("FULLY_CONNECTED", [x, w, bias], [t], "FullyConnectedOptions",
         FusedActivationFunction=NONE)
    b.op("SOFTMAX", [t], [y], "SoftmaxOptions", Beta=1.0)
    return b, [x], [y]


def int8_mean():
    b = TFLiteBuilder()
    x = b.input("x", [1, 4, 4, 8], "int8", _q(0.07, 4))
    y = b.tensor("y", [1, 1, 1, 8], "int8", _q(0.05, 0))
    b.op("MEAN", [x, b.const("axes", np.array([1, 2], np.int32))], [y], "ReducerOptions",
         KeepDims=True)
    return b, [x], [y]


def int8_logistic():
    b = TFLiteBuilder()
    x = b.input("x", [1, 64], "int8", _q(0.05, 0))
    y = b.tensor("y", [1, 64], "int8", _q(1 / 256, -128))
    b.op("LOGISTIC", [x], [y])
    return b, [x], [y]


INT8_MODELS = {f.__name__: f for f in (
    int8_conv_per_channel_relu6, int8_depthwise_and_pool, int8_add_concat,
    int8_fully_connected_softmax, int8_mean, int8_logistic)}


@pytest.mark.parametrize("name", sorted(INT8_MODELS))
def test_int8_operator_agrees_with_litert(name):
    """int8 in, int8 out: at most one quantization step from LiteRT (its requantization is
    fixed point, edgec's float32), and mostly none."""
    builder, inputs, outputs = INT8_MODELS[name]()
    data = builder.finish(inputs, outputs)
    reference = LiteRTReference(data)
    artifact = edgec.compile(data, "host", tuning_logs=False)
    diffs = []
    for _ in range(4):
        feeds = {spec.name: RNG.integers(-128, 128, spec.shape).astype(np.int8)
                 for spec in artifact.signature.inputs}
        got, want = artifact.run(feeds), reference.run(feeds)
        for key, ref in want.items():
            assert got[key].dtype == np.int8
            diffs.append(np.abs(got[key].astype(np.int32) - ref.astype(np.int32)).ravel())
    diffs = np.concatenate(diffs)
    assert diffs.max() <= 1 and np.mean(diffs == 0) >= 0.9, np.bincount(diffs)
