"""``HannWindow``, ``HammingWindow``, ``BlackmanWindow``: the window for a constant ``size``
(an initializer, a folded value or a frozen input) is a constant, computed here as ONNX's
formulas give it (``periodic`` divides by N, otherwise by N - 1)."""

from __future__ import annotations

import numpy as np
import onnx
from tvm import relax

from edgec.frontend.converters.common import refuse
from edgec.passes.bindings import constant_array


def _window(kind: str):
    def convert(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
        size = constant_array(inputs[0])
        if size is None or size.size != 1:
            raise refuse(kind, attrs, "takes its size from a value that is not a constant",
                         "make the size a constant, or freeze the input that gives it "
                         "(--freeze-input NAME=VALUE)")
        n = int(size.reshape(()))
        periodic = int(attrs.get("periodic", 1))
        denominator = n if periodic else n - 1
        dtype = onnx.helper.tensor_dtype_to_np_dtype(int(attrs.get("output_datatype", 1)))
        i = np.arange(n, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            phase = i * np.pi / denominator
            if kind == "HannWindow":
                values = np.sin(phase) ** 2
            elif kind == "HammingWindow":
                alpha = 25.0 / 46.0
                values = alpha - (1.0 - alpha) * np.cos(2.0 * phase)
            else:  # BlackmanWindow
                values = 0.42 - 0.5 * np.cos(2.0 * phase) + 0.08 * np.cos(4.0 * phase)
        return relax.const(values.astype(dtype), str(np.dtype(dtype)))

    return convert


convert_hann_window = _window("HannWindow")
convert_hamming_window = _window("HammingWindow")
convert_blackman_window = _window("BlackmanWindow")
