"""``NegativeLogLikelihoodLoss`` and ``SoftmaxCrossEntropyLoss``: losses that inference graphs
keep when a model is exported with its evaluation head (TVM's importer has neither).

For input ``x`` ``[N, C, d1..dk]`` and integer targets ``[N, d1..dk]``:
``loss[n, d] = -x[n, target[n, d], d] * w[n, d]``, where ``w`` is ``weight[target]`` (or 1)
and 0 where the target is ``ignore_index``; ``reduction`` ``none`` keeps that tensor, ``sum``
adds it up, ``mean`` divides the sum by the sum of ``w``. SoftmaxCrossEntropyLoss does the same on
``log_softmax(x, axis=1)``, which is its optional second output. The class picked is gathered
(indices clipped into range, so an out-of-range ``ignore_index`` reads a valid class and is then
weighted 0), never a one-hot product, so a ``-inf`` log-probability does not turn into NaN.
"""

from __future__ import annotations

import numpy as np
from tvm import relax
from tvm.relax import op

from edgec.frontend.converters.common import refuse, text
from edgec.passes.bindings import static_shape


def _loss(bb, name: str, x, target, weight, attrs: dict):
    shape = static_shape(x)
    if shape is None or len(shape) < 2:
        raise refuse(name, attrs, "has an input that is not [N, C, ...] with a static shape",
                     "give the model static input shapes")
    classes = shape[1]
    dtype = str(x.ty.dtype)
    index_dtype = str(target.ty.dtype)
    reduction = text(attrs.get("reduction", "mean"))
    if reduction not in ("none", "sum", "mean"):
        raise refuse(name, attrs, f"has reduction '{reduction}'", "ONNX defines none, sum, mean")
    clipped = op.clip(target, relax.prim_value(0), relax.prim_value(classes - 1))
    picked = op.squeeze(op.gather_elements(x, op.expand_dims(clipped, 1), axis=1), [1])
    weights = None
    if weight is not None:
        weights = op.take(weight, clipped, axis=0)
    ignore = attrs.get("ignore_index")
    if ignore is not None:
        keep = op.not_equal(target, relax.const(np.asarray(int(ignore), index_dtype), index_dtype))
        zero = relax.const(np.zeros((), dtype), dtype)
        if weights is None:
            weights = op.where(keep, relax.const(np.ones((), dtype), dtype), zero)
        else:
            weights = op.where(keep, weights, zero)
    loss = op.negative(picked)
    if weights is not None:
        loss = op.multiply(loss, weights)
    loss = bb.normalize(loss)
    if reduction == "none":
        return loss
    total = op.sum(loss)
    if reduction == "sum":
        return total
    if weights is None:
        return op.mean(loss)
    return op.divide(total, op.sum(weights))


def convert_nll_loss(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    weight = inputs[2] if len(inputs) > 2 else None
    return _loss(bb, "NegativeLogLikelihoodLoss", inputs[0], inputs[1], weight, attrs)


def convert_softmax_cross_entropy(bb: relax.BlockBuilder, inputs, attrs: dict, opset: int):
    weight = inputs[2] if len(inputs) > 2 else None
    log_prob = bb.normalize(op.nn.log_softmax(inputs[0], axis=1))
    loss = _loss(bb, "SoftmaxCrossEntropyLoss", log_prob, inputs[1], weight, attrs)
    return relax.Tuple([bb.normalize(loss), log_prob])
