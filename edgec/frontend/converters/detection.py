"""Detection operators where TVM's converter would compute something else than asked.

- ``NonMaxSuppression``: ``max_output_boxes_per_class``, ``iou_threshold`` and
  ``score_threshold`` must be constants; TVM replaces a non-constant one by a default (0 boxes
  per class: no box at all) instead of reading it. TVM suppresses a box whose IoU is ``>=`` the
  threshold, ONNX one whose IoU is ``>`` it: the threshold is passed on as the next float32 up,
  which makes the two the same test (a box at exactly the threshold was dropped).
- ``RoiAlign`` with ``mode="max"``: ONNX (as ONNX Runtime) takes, at each sampling point, the
  largest of the four weighted corner values, then the largest over the points; TVM takes the
  largest bilinear value (0.4 apart on the node suite's case). Refused.
"""

from __future__ import annotations

import numpy as np
from tvm import relax

from edgec.frontend.converters.common import refuse, text
from edgec.passes.bindings import constant_array

_NMS_PARAMS = ("max_output_boxes_per_class", "iou_threshold", "score_threshold")


def convert_nms(bb: relax.BlockBuilder, inputs, attr: dict, opset: int):
    for index, name in enumerate(_NMS_PARAMS, start=2):
        if index < len(inputs) and inputs[index] is not None \
                and constant_array(inputs[index]) is None:
            raise refuse("NonMaxSuppression", attr,
                         f"takes {name} from a value that is not a constant (a graph input "
                         "or a computed tensor)",
                         "make it an initializer (re-export with a fixed value)")
    if len(inputs) > 3 and inputs[3] is not None:
        threshold = constant_array(inputs[3]).astype(np.float32)
        above = np.nextafter(threshold, np.float32(np.inf)).astype(np.float32)
        inputs[3] = relax.const(above, "float32")
    return None


def convert_roi_align(bb: relax.BlockBuilder, inputs, attr: dict, opset: int):
    if text(attr.get("mode", "avg")) == "max":
        raise refuse("RoiAlign", attr, "uses mode 'max', which edgec does not compute as "
                     "ONNX defines it (the largest weighted corner per sampling point)",
                     "use mode 'avg'")
    return None
