"""Operators that move elements around with constant geometry: ``CenterCropPad``,
``ReverseSequence``, ``Col2Im`` (TVM's importer has none of them), ``Compress`` with a constant
condition (TVM's converter gives a data-dependent shape even then).

- CenterCropPad: each listed axis is cropped (start ``(dim - size) // 2``) or zero-padded
  (``(size - dim) // 2`` before) to the constant ``shape``.
- ReverseSequence: along ``time_axis``, the first ``sequence_lens[b]`` steps of every batch
  entry reversed, the rest kept: one gather with indices computed from the lengths.
- Compress: the slices (along ``axis``, or of the flattened input) where the condition is
  true: one gather with the constant indices.
- Col2Im (2-D): the inverse of im2col, overlapping patches summed: a transposed convolution of
  the ``[N, C*kh*kw, oh, ow]`` columns with a one-hot ``[C*kh*kw, C, kh, kw]`` kernel, which has
  exactly that sum.
"""

from __future__ import annotations

import numpy as np
from tvm import relax
from tvm.relax import op

from edgec.frontend.converters.common import refuse
from edgec.passes.bindings import constant_array, static_shape


def _constant_ints(name: str, attrs: dict, expr, what: str) -> list[int]:
    array = constant_array(expr)
    if array is None:
        raise refuse(name, attrs, f"takes its {what} from a value that is not a constant",
                     "make it a constant, or freeze the input that gives it "
                     "(--freeze-input NAME=VALUE)")
    return [int(v) for v in array.reshape(-1)]


def convert_center_crop_pad(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    x = inputs[0]
    shape = static_shape(x)
    sizes = _constant_ints("CenterCropPad", attrs, inputs[1], "shape")
    axes = [int(a) % len(shape) for a in attrs.get("axes", range(len(shape)))]
    begin, end = [0] * len(shape), list(shape)
    pads = [[0, 0] for _ in shape]
    for axis, size in zip(axes, sizes):
        dim = shape[axis]
        if size < dim:
            begin[axis] = (dim - size) // 2
            end[axis] = begin[axis] + size
        elif size > dim:
            pads[axis] = [(size - dim) // 2, size - dim - (size - dim) // 2]
    x = op.strided_slice(x, list(range(len(shape))), begin, end)
    if any(p != [0, 0] for p in pads):
        x = op.nn.pad(x, [v for p in pads for v in p], pad_value=0.0)
    return x


def convert_reverse_sequence(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    x, lengths = inputs[0], inputs[1]
    shape = static_shape(x)
    if shape is None:
        raise refuse("ReverseSequence", attrs, "has an input of unknown shape",
                      "give the model static input shapes")
    batch_axis, time_axis = int(attrs.get("batch_axis", 1)), int(attrs.get("time_axis", 0))
    rank = len(shape)
    steps_shape = [1] * rank
    steps_shape[time_axis] = shape[time_axis]
    steps = relax.const(np.arange(shape[time_axis], dtype=np.int64).reshape(steps_shape),
                        "int64")
    lens_shape = [1] * rank
    lens_shape[batch_axis] = shape[batch_axis]
    lens = op.reshape(op.astype(lengths, "int64"), lens_shape)
    one = relax.const(1, "int64")
    index = op.where(op.less(steps, lens), op.subtract(op.subtract(lens, one), steps), steps)
    return op.gather_elements(x, op.broadcast_to(index, shape), axis=time_axis)


def convert_col2im(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    name = "Col2Im"
    x = inputs[0]
    image = _constant_ints(name, attrs, inputs[1], "image_shape")
    block = _constant_ints(name, attrs, inputs[2], "block_shape")
    shape = static_shape(x)
    if len(image) != 2 or shape is None:
        raise refuse(name, attrs, f"has a {len(image)}-D image", "edgec converts 2-D Col2Im")
    dilations = [int(d) for d in attrs.get("dilations", [1, 1])]
    strides = [int(s) for s in attrs.get("strides", [1, 1])]
    pads = [int(p) for p in attrs.get("pads", [0, 0, 0, 0])]
    kh, kw = block
    batch, rows, length = shape
    channels = rows // (kh * kw)
    out = [(image[i] + pads[i] + pads[i + 2] - dilations[i] * (block[i] - 1) - 1) // strides[i]
           + 1 for i in range(2)]
    if out[0] * out[1] != length or channels * kh * kw != rows:
        raise refuse(name, attrs, f"has {length} columns of {rows} rows, which do not tile a "
                     f"{image} image with {block} blocks", "check image_shape and block_shape")
    weight = np.zeros((rows, channels, kh, kw), dtype=str(x.ty.dtype))
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                weight[c * kh * kw + i * kw + j, c, i, j] = 1
    grid = op.reshape(x, [batch, rows, out[0], out[1]])
    natural = [(out[i] - 1) * strides[i] - pads[i] - pads[i + 2] + dilations[i] * (block[i] - 1)
               + 1 for i in range(2)]
    return op.nn.conv2d_transpose(grid, relax.const(weight, str(weight.dtype)), strides=strides,
                                  padding=[pads[0], pads[1], pads[2], pads[3]],
                                  output_padding=[image[0] - natural[0], image[1] - natural[1]],
                                  dilation=dilations, data_layout="NCHW", kernel_layout="IOHW")


def convert_compress(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    condition = constant_array(inputs[1])
    if condition is None:
        raise refuse("Compress", attrs, "takes a condition that is not a constant (its "
                     "output's size is the count of true values)",
                     "freeze the input that gives it (--freeze-input NAME=VALUE)")
    x = inputs[0]
    shape = static_shape(x)
    if "axis" not in attrs:
        x, axis, size = op.reshape(x, [-1]), 0, int(np.prod(shape))
    else:
        axis = int(attrs["axis"]) % len(shape)
        size = shape[axis]
    keep = np.flatnonzero(condition.reshape(-1)[:size].astype(bool)).astype("int64")
    return op.take(x, relax.const(keep, "int64"), axis=axis)
