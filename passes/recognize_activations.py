"""RecognizeActivations: activations that exporters spell out in elementwise ops become one
operator each, so that fusion, reports and quantization see them.

Rules, each a pattern, a check on its constants, and a rewrite (tried in this order):

=============  =====================================================  =========================
activation     spelled out as (any operand order of add/multiply)     becomes
=============  =====================================================  =========================
hard-swish     x * clip(x + 3, 0, 6) / 6     (or * 1/6)               R.edgec.hard_swish(x)
hard-swish     x * hard_sigmoid(x; 1/6, 1/2)                           R.edgec.hard_swish(x)
hard-sigmoid   clip(a * x + b, 0, 1)                                   R.edgec.hard_sigmoid(x, a, b)
hard-sigmoid   clip(x + 3, 0, 6) / 6         (or * 1/6)               R.edgec.hard_sigmoid(x, 1/6, 1/2)
SiLU / swish   x * sigmoid(x)                                          R.nn.silu(x)
GELU (erf)     x * (1 + erf(x / sqrt 2)) * 0.5   (or * 1/sqrt 2)       R.nn.gelu(x)
ReLU6 / clip   minimum(maximum(x, lo), hi), minimum(relu(x), hi)       R.clip(x, lo, hi)
=============  =====================================================  =========================

The math is unchanged (each operator computes exactly the expression it replaces, up to float
rounding). Runs in the graph phase after FoldAffineIntoConv, before fusion; a no-op when no
pattern matches.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import tvm
from tvm import relax
from tvm.relax.dpl import is_const, is_op, rewrite_call, wildcard

from edgec.passes import ops
from edgec.passes.bindings import constant_array
from edgec.passes.rewrite_driver import rewrite_until_stable
from edgec.passes.rewrite_log import record

_ROUNDS = 4


def _scalar(expr) -> float | None:
    array = constant_array(expr)
    if array is None or array.size != 1:
        return None
    return float(array.reshape(()))


def _close(value: float | None, expected: float) -> bool:
    return value is not None and math.isclose(value, expected, rel_tol=1e-5, abs_tol=1e-7)


def _clip_bounds(call) -> tuple[float, float]:
    return ops.scalar_argument(call.args[1]), ops.scalar_argument(call.args[2])


def _commutative(op: str, a, b):
    return is_op(op)(a, b) | is_op(op)(b, a)


@dataclasses.dataclass
class _Rule:
    name: str
    pattern: object
    rewrite: Callable[[relax.Call, dict], relax.Expr | None]  # None: check refused


def _find_call(expr, op_name: str):
    """``expr`` if it is a call to ``op_name``."""
    if isinstance(expr, relax.Call) and isinstance(expr.op, tvm.ir.Op) and expr.op.name == op_name:
        return expr
    return None


def _rules() -> list[_Rule]:
    rules = []

    # hard-swish: x * clip(x + 3, 0, 6) / 6
    x, three, six, clip_pat = wildcard(), is_const(), is_const(), None
    shifted = _commutative("relax.add", x, three)
    clip_pat = is_op("relax.clip")(shifted, wildcard(), wildcard())
    product = _commutative("relax.multiply", x, clip_pat)
    over_six = is_op("relax.divide")(product, six) | _commutative("relax.multiply", product, six)

    def hard_swish(orig, m):
        clip = m[clip_pat]
        low, high = _clip_bounds(clip)
        divisor = _scalar(m[six])
        if orig.op.name == "relax.multiply" and divisor:
            divisor = 1.0 / divisor
        if not (_close(_scalar(m[three]), 3.0) and low == 0.0 and high == 6.0
                and _close(divisor, 6.0)):
            return None
        return ops.hard_swish(m[x])

    rules.append(_Rule("hard_swish", over_six, hard_swish))

    # hard-sigmoid: clip(x + 3, 0, 6) / 6  ->  (1/6, 1/2)
    y, three2, six2 = wildcard(), is_const(), is_const()
    clip2 = is_op("relax.clip")(_commutative("relax.add", y, three2), wildcard(), wildcard())
    scaled = is_op("relax.divide")(clip2, six2) | _commutative("relax.multiply", clip2, six2)

    def hard_sigmoid_relu6(orig, m):
        low, high = _clip_bounds(m[clip2])
        divisor = _scalar(m[six2])
        if orig.op.name == "relax.multiply" and divisor:
            divisor = 1.0 / divisor
        if not (_close(_scalar(m[three2]), 3.0) and low == 0.0 and high == 6.0
                and _close(divisor, 6.0)):
            return None
        return ops.hard_sigmoid(m[y], 1.0 / 6.0, 0.5)

    rules.append(_Rule("hard_sigmoid", scaled, hard_sigmoid_relu6))

    # hard-sigmoid: clip(a * x + b, 0, 1)
    z, a, b = wildcard(), is_const(), is_const()
    affine = _commutative("relax.add", _commutative("relax.multiply", z, a), b)
    clip3 = is_op("relax.clip")(affine, wildcard(), wildcard())

    def hard_sigmoid_affine(orig, m):
        low, high = _clip_bounds(orig)
        alpha, beta = _scalar(m[a]), _scalar(m[b])
        if alpha is None or beta is None or low != 0.0 or high != 1.0:
            return None
        return ops.hard_sigmoid(m[z], alpha, beta)

    rules.append(_Rule("hard_sigmoid", clip3, hard_sigmoid_affine))

    # hard-swish: x * hard_sigmoid(x; 1/6, 1/2)
    w = wildcard()
    hsig = is_op(ops.HARD_SIGMOID)(w, wildcard(), wildcard())
    gated = _commutative("relax.multiply", w, hsig)

    def hard_swish_from_sigmoid(orig, m):
        call = m[hsig]
        if not (_close(ops.scalar_argument(call.args[1]), 1 / 6)
                and _close(ops.scalar_argument(call.args[2]), 0.5)):
            return None
        return ops.hard_swish(m[w])

    rules.append(_Rule("hard_swish", gated, hard_swish_from_sigmoid))

    # SiLU: x * sigmoid(x)
    s = wildcard()
    silu = _commutative("relax.multiply", s, is_op("relax.sigmoid")(s))
    rules.append(_Rule("silu", silu, lambda orig, m: relax.op.nn.silu(m[s])))

    # GELU (erf form): (x * (1 + erf(x / sqrt2))) * 0.5, and x * 0.5 * (...)
    g, root, one, half = wildcard(), is_const(), is_const(), is_const()
    erf_arg = is_op("relax.divide")(g, root) | _commutative("relax.multiply", g, root)
    one_plus = _commutative("relax.add", is_op("relax.erf")(erf_arg), one)
    gelu_a = _commutative("relax.multiply", _commutative("relax.multiply", g, one_plus), half)
    gelu_b = _commutative("relax.multiply", _commutative("relax.multiply", g, half), one_plus)

    def gelu(orig, m):
        erf_call = m[erf_arg]
        scale = _scalar(m[root])
        if scale is None:
            return None
        if erf_call.op.name == "relax.divide":
            scale = 1.0 / scale
        if not (_close(scale, 1 / math.sqrt(2)) and _close(_scalar(m[one]), 1.0)
                and _close(_scalar(m[half]), 0.5)):
            return None
        return relax.op.nn.gelu(m[g])

    rules.append(_Rule("gelu", gelu_a | gelu_b, gelu))

    # ReLU6 / clip spelled with minimum and maximum (ONNX Min/Max, Relu + Min)
    r, lo, hi = wildcard(), is_const(), is_const()
    lower = (_commutative("relax.maximum", r, lo)) | is_op("relax.nn.relu")(r)
    bounded = _commutative("relax.minimum", lower, hi)

    def min_max_clip(orig, m):
        low = 0.0 if lo not in m else _scalar(m[lo])
        high = _scalar(m[hi])
        if low is None or high is None or low > high:
            return None
        return relax.op.clip(m[r], low, high)

    rules.append(_Rule("clip", bounded, min_max_clip))
    return rules


class _Applier:
    def __init__(self, rule: _Rule):
        self.rule = rule
        self.count = 0

    def __call__(self, orig, matched):
        result = self.rule.rewrite(orig, matched)
        if result is None:
            return orig
        self.count += 1
        return result


@tvm.transform.module_pass(opt_level=0, name="RecognizeActivations")
class RecognizeActivations:
    """See the module docstring."""

    def transform_module(self, mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        rules = _rules()

        def one_round(func):
            total = 0
            for rule in rules:
                applier = _Applier(rule)
                func = rewrite_call(rule.pattern, applier, func)
                record(f"activation {rule.name}", applier.count)
                total += applier.count
            return func, total

        return rewrite_until_stable(mod, one_round, _ROUNDS)
