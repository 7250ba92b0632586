"""``ConvTranspose`` with ``output_shape``: TVM's converter ignores the attribute (a 1x2x10x8
output came back 1x2x9x7). The ONNX specification derives the pads from it::

    total[i] = stride[i] * (in[i] - 1) + output_padding[i] + (kernel[i] - 1) * dilation[i] + 1
               - output_shape[i]
    SAME_UPPER: begin = total // 2, end = total - begin;  otherwise: end = total // 2,
    begin = total - end

Those pads (and, where ``end`` is negative, that many more rows of output padding) are written
into the attributes and TVM's converter does the rest.
"""

from __future__ import annotations

from tvm import relax

from edgec.frontend.converters.common import refuse, text
from edgec.passes.bindings import static_shape


def convert_conv_transpose(bb: relax.BlockBuilder, inputs, attr: dict, opset: int):
    if "output_shape" not in attr:
        return None
    dims, kernel_dims = static_shape(inputs[0]), static_shape(inputs[1])
    if dims is None or kernel_dims is None:
        raise refuse("ConvTranspose", attr, "sets output_shape on an input of unknown shape",
                     "give the input a static shape (--input-shape)")
    spatial = len(dims) - 2
    out = list(attr.pop("output_shape"))[-spatial:]
    strides = list(attr.get("strides", [1] * spatial))
    dilations = list(attr.get("dilations", [1] * spatial))
    output_padding = list(attr.get("output_padding", [0] * spatial))
    kernel = list(attr.get("kernel_shape", kernel_dims[2:]))
    upper = text(attr.pop("auto_pad", "NOTSET")) == "SAME_UPPER"
    begins, ends = [], []
    for i in range(spatial):
        total = (strides[i] * (dims[2 + i] - 1) + output_padding[i]
                 + (kernel[i] - 1) * dilations[i] + 1 - out[i])
        if upper:
            begin = total // 2
            end = total - begin
        else:
            end = total // 2
            begin = total - end
        if end < 0 <= begin and -end < strides[i]:
            output_padding[i] -= end  # a larger output than the convolution covers: padding
            end = 0
        if begin < 0 or end < 0:
            raise refuse("ConvTranspose", attr, f"asks for output_shape {out}, which needs "
                         f"negative padding on axis {2 + i}", "set pads instead of output_shape")
        begins.append(begin)
        ends.append(end)
    attr["pads"] = begins + ends
    attr["output_padding"] = output_padding
    return None
