"""``Resize``: the cases TVM's conversion computes differently from ONNX are refused.

- ``antialias=1`` (opset 18): TVM's resize2d has no antialiasing filter.
- ``scales`` whose product with the input size is not a whole number: ONNX maps output
  coordinates to input ones with the scale given (``x_in = (x_out + 0.5) / scale - 0.5``),
  TVM with the ratio of the sizes after flooring (0.6 x 4 = 2.4 -> 2 outputs: ONNX steps by
  1 / 0.6, TVM by 2), so every output differs. Found by the node suite's downsample cases.

TVM's converter reads neither ``axes`` (opset 18: scales/sizes/roi for some axes only) nor
``keep_aspect_ratio_policy`` (one scale for all listed axes, ``round_half_up(scale * size)``
outputs): edgec expands the inputs to every axis and turns the policy into plain sizes first
(refused, like scales, when ``scale * size`` is not whole: TVM would place the samples by the
sizes' ratio, not by the one scale ONNX specifies).

Everything else goes on to TVM's converter.
"""

from __future__ import annotations

import numpy as np

from tvm import relax

from edgec.frontend.converters.common import refuse, text
from edgec.passes.bindings import constant_array, static_shape


def _normalize_axes_and_policy(inputs, attrs: dict, shape: list[int]) -> None:
    """Rewrite ``inputs`` (in place) and ``attrs`` so that TVM's converter, which assumes
    full-rank scales/sizes/roi and stretching, computes what ONNX specifies."""
    rank = len(shape)
    axes = attrs.pop("axes", None)
    axes = [int(a) % rank for a in axes] if axes is not None else list(range(rank))
    policy = text(attrs.pop("keep_aspect_ratio_policy", "stretch"))
    roi = constant_array(inputs[1]) if len(inputs) > 1 and inputs[1] is not None else None
    if roi is not None and roi.size == 2 * len(axes) and len(axes) != rank:
        full = np.array([0.0] * rank + [1.0] * rank, dtype=roi.dtype)
        for i, axis in enumerate(axes):
            full[axis], full[rank + axis] = roi[i], roi[len(axes) + i]
        inputs[1] = relax.const(full, str(full.dtype))
    scales = constant_array(inputs[2]) if len(inputs) > 2 and inputs[2] is not None else None
    if scales is not None and scales.size == len(axes) and len(axes) != rank:
        full = np.ones(rank, dtype=scales.dtype)
        full[axes] = scales.reshape(-1)
        inputs[2] = relax.const(full, str(full.dtype))
    sizes = constant_array(inputs[3]) if len(inputs) > 3 and inputs[3] is not None else None
    if sizes is None or sizes.size == 0:
        return
    full = np.array(shape, dtype=np.int64)
    full[axes] = sizes.reshape(-1)
    if policy != "stretch":
        ratios = [full[a] / shape[a] for a in axes]
        scale = min(ratios) if policy == "not_larger" else max(ratios)
        for axis in axes:
            exact = scale * shape[axis]
            full[axis] = int(exact + 0.5)
            if abs(exact - round(exact)) > 1e-6:
                raise refuse("Resize", attrs,
                             f"keeps the aspect ratio ({policy}) with scale {scale:g}, which "
                             f"gives {exact:g} outputs on axis {axis}: not a whole number; edgec "
                             "would place the samples by the sizes' ratio instead of that scale",
                             "give sizes that keep the aspect ratio exactly")
    inputs[3] = relax.const(full, "int64")


def convert_resize(bb, inputs, attrs: dict, opset: int):
    if int(attrs.get("antialias", 0)):
        raise refuse("Resize", attrs, "uses antialias=1, which edgec cannot compile yet",
                     "export the model without antialiasing (e.g. torch's "
                     "interpolate(..., antialias=False))")
    shape = static_shape(inputs[0]) if inputs[0] is not None else None
    if opset >= 18 and shape is not None:
        _normalize_axes_and_policy(inputs, attrs, shape)
    scales = None
    if opset >= 11 and len(inputs) > 2 and inputs[2] is not None:
        scales = constant_array(inputs[2])
    elif opset < 11 and len(inputs) > 1 and inputs[1] is not None:
        scales = constant_array(inputs[1])
    if scales is None or scales.size == 0 or shape is None:
        return None
    for axis, scale in enumerate(scales.reshape(-1).astype(np.float64)):
        size = shape[axis] * scale
        if abs(size - round(size)) > 1e-6:
            raise refuse("Resize", attrs,
                         f"scales axis {axis} of size {shape[axis]} by {scale:g}, which is not a "
                         "whole number of outputs; edgec would place the samples by the sizes' "
                         "ratio instead of the scale ONNX specifies",
                         "give the Resize `sizes` instead of `scales`, or scales that divide "
                         "the input evenly")
    return None
