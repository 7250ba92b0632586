"""edgec's own Relax operators, for activations TVM has no single operator for.

Exporters spell hard-sigmoid and hard-swish out in five or six elementwise ops; once recognised
(``recognize_activations.py``) they become one call each, so that fusion, reports and later
quantization see one activation:

- ``R.edgec.hard_sigmoid(x, alpha, beta)`` = ``clip(alpha * x + beta, 0, 1)``
  (ONNX HardSigmoid; PyTorch's hardsigmoid is alpha = 1/6, beta = 0.5; Paddle's 0.2, 0.5);
- ``R.edgec.hard_swish(x)`` = ``x * clip(x + 3, 0, 6) / 6`` (MobileNetV3, PP-LCNet);
- ``R.edgec.round_even(x)``: round to the nearest integer, ties to even (C's ``nearbyint``), the
  rounding ONNX QuantizeLinear and ONNX Runtime's requantization use (``R.round`` rounds ties
  away from zero).

``alpha`` and ``beta`` are ``R.prim_value`` arguments. Each operator infers its type from ``x``,
is pure, takes ReLU's layout inference and mixed-precision policy, and legalizes to one
elementwise TE kernel, so ``ConvertLayout``, ``LegalizeOps`` and ``FuseOps`` treat it like any
built-in elementwise op. Importing this module registers the operators (once per
process) and makes them printable and parseable in TVMScript as ``R.edgec.<name>``.
"""

from __future__ import annotations

import types

import tvm
from tvm import relax, te

HARD_SIGMOID = "relax.edgec.hard_sigmoid"
HARD_SWISH = "relax.edgec.hard_swish"
ROUND_EVEN = "relax.edgec.round_even"


def _infer_like_first_argument(call, ctx):
    return call.args[0].ty


def scalar_argument(arg) -> float:
    """The float carried by an ``R.prim_value`` argument."""
    value = arg.value
    return float(value.value if hasattr(value, "value") else value)


def _scalar(value: float, dtype: str):
    return tvm.tirx.const(value, dtype)


def _legalize_hard_sigmoid(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
    alpha, beta = scalar_argument(call.args[1]), scalar_argument(call.args[2])

    def compute(x):
        zero, one = _scalar(0.0, x.dtype), _scalar(1.0, x.dtype)
        return te.compute(x.shape, lambda *i: te.min(te.max(
            x(*i) * _scalar(alpha, x.dtype) + _scalar(beta, x.dtype), zero), one),
            name="hard_sigmoid")

    return bb.call_te(compute, call.args[0], primfunc_name_hint="hard_sigmoid")


def _legalize_hard_swish(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
    def compute(x):
        three, six, zero = _scalar(3.0, x.dtype), _scalar(6.0, x.dtype), _scalar(0.0, x.dtype)
        return te.compute(x.shape, lambda *i: x(*i) * te.min(te.max(x(*i) + three, zero), six)
                          / six, name="hard_swish")

    return bb.call_te(compute, call.args[0], primfunc_name_hint="hard_swish")


def _legalize_round_even(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
    def compute(x):
        return te.compute(x.shape, lambda *i: tvm.tirx.nearbyint(x(*i)), name="round_even")

    return bb.call_te(compute, call.args[0], primfunc_name_hint="round_even")


def _register(name: str, num_inputs: int, description: str, legalize) -> None:
    from tvm.ir import _ffi_api
    from tvm.relax.transform.legalize_ops.common import register_legalize

    try:
        tvm.ir.Op.get(name)
        return  # registered already in this process
    except tvm.error.InternalError:
        pass
    except Exception:  # older TVMs raise other classes for unknown operators
        pass
    _ffi_api.RegisterOp(name, description)
    op = tvm.ir.Op.get(name)
    op.set_num_inputs(num_inputs)
    op.add_argument("x", "Tensor", "The input tensor.")
    op.set_attr("FInferType", _infer_like_first_argument)
    op.set_attr("FPurity", True)
    # Elementwise like ReLU: the same layout inference (ConvertLayout keeps any layout) and
    # mixed-precision policy (follows its input).
    relu = tvm.ir.Op.get("relax.nn.relu")
    op.set_attr("FRelaxInferLayout", relu.get_attr("FRelaxInferLayout"))
    op.set_attr("TMixedPrecisionPolicy", relu.get_attr("TMixedPrecisionPolicy"))
    register_legalize(name, legalize)


def _prim(value) -> relax.Expr:
    if isinstance(value, (int, float)):
        return relax.prim_value(tvm.tirx.FloatImm("float64", float(value)))
    return value


def hard_sigmoid(x: relax.Expr, alpha=0.2, beta=0.5) -> relax.Call:
    return relax.Call(tvm.ir.Op.get(HARD_SIGMOID), [x, _prim(alpha), _prim(beta)])


def hard_swish(x: relax.Expr) -> relax.Call:
    return relax.Call(tvm.ir.Op.get(HARD_SWISH), [x])


_register(HARD_SIGMOID, 3, "clip(alpha * x + beta, 0, 1)", _legalize_hard_sigmoid)
def round_even(x: relax.Expr) -> relax.Call:
    return relax.Call(tvm.ir.Op.get(ROUND_EVEN), [x])


_register(HARD_SWISH, 1, "x * clip(x + 3, 0, 6) / 6", _legalize_hard_swish)
_register(ROUND_EVEN, 1, "round to nearest, ties to even", _legalize_round_even)

# TVMScript resolves ``R.edgec.hard_swish(x)`` as an attribute of the ``R`` namespace module,
# which is tvm.script.relax in user code and its parser module when parsing printed IR.
import tvm.relax.script.parser as _script_parser  # noqa: E402
from tvm.script import relax as _script_relax  # noqa: E402

for _namespace in (_script_relax, _script_parser):
    if not hasattr(_namespace, "edgec"):
        _namespace.edgec = types.SimpleNamespace(hard_sigmoid=hard_sigmoid, hard_swish=hard_swish,
                                                  round_even=round_even)
