"""Elementwise operators whose TVM conversions lose attributes or precision.

- ``IsInf``: TVM ignores ``detect_positive`` / ``detect_negative`` (``isinf(x)`` always).
- ``Softplus``: TVM computes ``max(x, 0) + log(1 + exp(-|x|))``, and ``1 + u`` rounds away
  most digits of a small ``u`` in float32 (softplus(-10) was 4e-4 off, relatively). Here
  ``log1p(u)`` is its Taylor series ``u - u^2/2 + ... - u^6/6`` below ``u = 0.05`` (relative
  error under 3e-9) and ``log(1 + u)`` above (under 1.3e-6). Kahan's exact correction,
  ``log(w) * u / (w - 1)`` with ``w = 1 + u``, does not survive TIR's simplifier once the
  kernels are inlined into each other: ``(1 + u) - 1`` becomes ``u``.
- ``Mish``: ``x * tanh(softplus(x))``, written as ``x * n(n + 2) / (n(n + 2) + 2)`` with
  ``n = exp(x)`` (the same function: ``tanh(log(1 + n)) = ((1+n)^2 - 1) / ((1+n)^2 + 1)``),
  which needs no ``log`` and loses nothing for negative ``x``; above ``x = 20`` (float16:
  ``x = 5``, where ``n(n + 2)`` would overflow) it is ``x`` to the type's precision.
- ``Celu`` (TVM has none): ``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``.
- ``LpNormalization`` (TVM has none): ``x / ||x||_p`` along ``axis``, p 1 or 2.
"""

from __future__ import annotations

from tvm import relax

op = relax.op


def _const(value, dtype: str) -> relax.Constant:
    return relax.const(value, dtype)


def convert_is_inf(bb: relax.BlockBuilder, inputs, attr: dict, opset: int):
    x = inputs[0]
    positive = int(attr.get("detect_positive", 1))
    negative = int(attr.get("detect_negative", 1))
    if positive and negative:
        return None
    inf, zero = op.isinf(x), _const(0, str(x.ty.dtype))
    if positive:
        return op.logical_and(inf, op.greater(x, zero))
    if negative:
        return op.logical_and(inf, op.less(x, zero))
    return op.zeros_like(x, "bool")


_LOG1P_SERIES_BELOW = 0.05
_LOG1P_TERMS = 6


def log1p(u: relax.Expr, dtype: str) -> relax.Expr:
    """``log(1 + u)`` for ``u >= 0``, accurate where ``u`` is tiny."""
    series = _const(1.0 / _LOG1P_TERMS, dtype)
    for k in range(_LOG1P_TERMS - 1, 0, -1):  # Horner: u (1 - u (1/2 - u (1/3 - ...)))
        series = op.subtract(_const(1.0 / k, dtype), op.multiply(u, series))
    series = op.multiply(u, series)
    direct = op.log(op.add(_const(1, dtype), u))
    return op.where(op.less(u, _const(_LOG1P_SERIES_BELOW, dtype)), series, direct)


def convert_softplus(bb: relax.BlockBuilder, inputs, attr: dict, opset: int):
    x = inputs[0]
    dtype = str(x.ty.dtype)
    if not dtype.startswith("float"):
        return None
    tail = log1p(op.exp(op.negative(op.abs(x))), dtype)
    return op.add(op.maximum(x, _const(0, dtype)), tail)


def convert_mish(bb: relax.BlockBuilder, inputs, attr: dict, opset: int):
    x = inputs[0]
    dtype = str(x.ty.dtype)
    if not dtype.startswith("float"):
        return None
    limit, two = _const(5 if dtype == "float16" else 20, dtype), _const(2, dtype)
    n = op.exp(op.minimum(x, limit))
    t = op.multiply(n, op.add(n, two))
    gate = op.divide(t, op.add(t, two))
    return op.where(op.greater(x, limit), x, op.multiply(x, gate))


def convert_celu(bb: relax.BlockBuilder, inputs, attr: dict, opset: int):
    x = inputs[0]
    dtype = str(x.ty.dtype)
    alpha = _const(float(attr.get("alpha", 1.0)), dtype)
    zero = _const(0.0, dtype)
    negative = op.multiply(alpha, op.subtract(op.exp(op.divide(x, alpha)), _const(1.0, dtype)))
    return op.add(op.maximum(zero, x), op.minimum(zero, negative))


def convert_lp_normalization(bb: relax.BlockBuilder, inputs, attr: dict, opset: int):
    from edgec.frontend.converters.common import refuse

    x = inputs[0]
    p = int(attr.get("p", 2))
    axis = int(attr.get("axis", -1))
    if p == 1:
        norm = op.sum(op.abs(x), axis=[axis], keepdims=True)
    elif p == 2:
        norm = op.sqrt(op.sum(op.multiply(x, x), axis=[axis], keepdims=True))
    else:
        raise refuse("LpNormalization", attr, f"has p={p}", "ONNX allows p 1 or 2")
    # an all-zero slice normalizes to zeros (ONNX's reference), not 0/0 = NaN
    dtype = str(x.ty.dtype)
    zero, one = relax.const(0.0, dtype), relax.const(1.0, dtype)
    return op.divide(x, op.where(op.equal(norm, zero), one, norm))
