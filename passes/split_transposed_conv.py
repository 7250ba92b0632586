"""SplitTransposedConv: a transposed convolution whose kernel equals its stride (the 2x2
stride-2 upsampling of segmentation and detection heads: PP-OCR det, U-Nets) becomes a 1x1
convolution followed by a pixel shuffle.

    conv2d_transpose(x, W[Ci, Co, s, s], stride s, no padding)          [N, Co, H*s, W*s]
 =  reshape(permute(reshape(conv2d(x, W'[Co*s*s, Ci, 1, 1]),            [N, Co*s*s, H, W]
                            [N, Co, s, s, H, W]), [0, 1, 4, 2, 5, 3]), [N, Co, H*s, W*s])

with ``W'[co*s*s + a*s + b, ci] = W[ci, co, a, b]``: each input pixel writes its own s x s block
of the output, so no output is a sum over overlapping windows. TVM lowers the transposed
convolution as a convolution over the input dilated with zeros, which materializes a 4x larger
padded copy and multiplies zeros three times out of four; the 1x1 convolution is an ordinary
(register-blocked, vectorized) kernel and the shuffle an elementwise copy that the bias and
activation fuse into. The same weights, reordered: results agree to rounding.
"""

from __future__ import annotations

import tvm
from tvm import relax
from tvm.relax.dpl import is_const, is_op, rewrite_call, wildcard

from edgec.passes.bindings import constant_array, ints, make_constant, static_shape
from edgec.passes.rewrite_driver import rewrite_until_stable
from edgec.passes.rewrite_log import record

_ROUNDS = 2


def _split(orig: relax.Call, matched) -> relax.Expr:
    x, weight = orig.args
    attrs = orig.attrs
    w = constant_array(weight)
    dims = static_shape(x)  # None for a symbolic spatial size
    if w is None or w.ndim != 4 or dims is None or len(dims) != 4:
        return orig
    kh, kw = w.shape[2], w.shape[3]
    if (str(attrs.data_layout) != "NCHW" or str(attrs.kernel_layout) != "IOHW"
            or str(attrs.out_layout) != "NCHW" or int(attrs.groups) != 1
            or ints(attrs.strides) != [kh, kw] or any(ints(attrs.padding))
            or any(ints(attrs.output_padding)) or ints(attrs.dilation) != [1, 1]):
        return orig
    n, _, h, wd = dims
    ci, co = w.shape[0], w.shape[1]
    out_dtype = attrs.out_dtype
    out_dtype = str(out_dtype) if out_dtype is not None and str(out_dtype) not in (
        "", "void", "None") else None
    pointwise = w.transpose(1, 2, 3, 0).reshape(co * kh * kw, ci, 1, 1)
    y = relax.op.nn.conv2d(x, make_constant(pointwise, str(w.dtype)), out_dtype=out_dtype)
    y = relax.op.reshape(y, [n, co, kh, kw, h, wd])
    y = relax.op.permute_dims(y, [0, 1, 4, 2, 5, 3])
    record("split conv2d_transpose (kernel = stride)")
    return relax.op.reshape(y, [n, co, h * kh, wd * kw])


@tvm.transform.module_pass(opt_level=0, name="SplitTransposedConv")
class SplitTransposedConv:
    """See the module docstring."""

    def transform_module(self, mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        pattern = is_op("relax.nn.conv2d_transpose")(wildcard(), is_const())

        def one_round(func):
            count = [0]

            def rewrite(orig, matched):
                result = _split(orig, matched)
                count[0] += result is not orig
                return result

            return rewrite_call(pattern, rewrite, func), count[0]

        return rewrite_until_stable(mod, one_round, _ROUNDS)
