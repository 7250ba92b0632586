"""``Resize``: the cases TVM's conversion computes differently from ONNX are refused.

- ``antialias=1`` (opset 18): TVM's resize2d has no antialiasing filter.
- ``scales`` whose product with the input size is not a whole number: ONNX maps output
  coordinates to input ones with the scale given (``x_in = (x_out + 0.5) / scale - 0.5``),
  TVM with the ratio of the sizes after flooring (0.6 x 4 = 2.4 -> 2 outputs: ONNX steps by
  1 / 0.6, TVM by 2), so every output differs. Found by the node suite's downsample cases.

Everything else goes on to TVM's converter.
"""

from __future__ import annotations

import numpy as np

from edgec.frontend.converters.common import refuse
from edgec.passes.bindings import constant_array, static_shape


def convert_resize(bb, inputs, attrs: dict, opset: int):
    if int(attrs.get("antialias", 0)):
        raise refuse("Resize", attrs, "uses antialias=1, which edgec cannot compile yet",
                     "export the model without antialiasing (e.g. torch's "
                     "interpolate(..., antialias=False))")
    scales = None
    if opset >= 11 and len(inputs) > 2 and inputs[2] is not None:
        scales = constant_array(inputs[2])
    elif opset < 11 and len(inputs) > 1 and inputs[1] is not None:
        scales = constant_array(inputs[1])
    shape = static_shape(inputs[0]) if inputs[0] is not None else None
    if scales is None or scales.size == 0 or shape is None:
        return None
    axes = attrs.get("axes")
    axes = [int(a) % len(shape) for a in axes] if axes is not None else range(len(shape))
    for axis, scale in zip(axes, scales.reshape(-1).astype(np.float64)):
        size = shape[axis] * scale
        if abs(size - round(size)) > 1e-6:
            raise refuse("Resize", attrs,
                         f"scales axis {axis} of size {shape[axis]} by {scale:g}, which is not a "
                         "whole number of outputs; edgec would place the samples by the sizes' "
                         "ratio instead of the scale ONNX specifies",
                         "give the Resize `sizes` instead of `scales`, or scales that divide "
                         "the input evenly")
    return None
