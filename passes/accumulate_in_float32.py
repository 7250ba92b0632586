"""AccumulateInFloat32: float16 matmuls, convolutions and reductions accumulate in float32.

=========================================  ==============================================
before (x, w float16)                      after
=========================================  ==============================================
matmul(x, w)          (out float16)        astype(matmul(x, w, out_dtype="float32"), f16)
conv{1,2,3}d[_transpose](x, w)             the same, with out_dtype="float32"
sum / mean / variance / std (x)            astype(op(astype(x, f32)), f16)
softmax / log_softmax (x)                  astype(op(astype(x, f32)), f16)
layer_norm / rms_norm (x, scale[, bias])   every operand cast to float32, result back
=========================================  ==============================================

A sum of float16 products rounded to float16 after every addition loses about one digit per
doubling of the reduction length. ONNX's reference and ONNX Runtime accumulate float16 in
float32 (so do GPU tensor cores), and models are validated against them: the node suite's
float16 attention cases differed from the reference by one float16 ulp (1e-3 relative) with
float16 accumulation. Only the accumulation changes: inputs and outputs stay float16, and each
result is rounded to float16 once.

Runs first in the graph phase (before folding), at every optimization level.
"""

from __future__ import annotations

import tvm
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator, mutator

from edgec.passes.rewrite_driver import rewrite_until_stable
from edgec.passes.rewrite_log import record

_OUT_DTYPE_OPS = frozenset({
    "relax.matmul", "relax.nn.conv1d", "relax.nn.conv2d", "relax.nn.conv3d",
    "relax.nn.conv1d_transpose", "relax.nn.conv2d_transpose", "relax.nn.conv3d_transpose",
})
_REDUCING_OPS = frozenset({
    "relax.sum", "relax.mean", "relax.variance", "relax.std", "relax.nn.softmax",
    "relax.nn.log_softmax", "relax.nn.layer_norm", "relax.nn.rms_norm",
})
_F16, _F32 = "float16", "float32"


def _dtype(expr) -> str | None:
    ty = getattr(expr, "ty", None)
    return str(ty.dtype) if isinstance(ty, relax.TensorType) else None


def _with_out_dtype(attrs, dtype: str):
    info = type(attrs).__tvm_ffi_type_info__
    fields = {f.name: getattr(attrs, f.name) for f in info.fields}
    fields["out_dtype"] = dtype
    return tvm.ir.make_node(info.type_key, **fields)


@mutator
class _Rewriter(PyExprMutator):
    def __init__(self, mod):
        super().__init__(mod)
        self.count = 0

    def visit_call_(self, call):
        call = super().visit_call_(call)
        name = getattr(call.op, "name", "")
        if name not in _OUT_DTYPE_OPS and name not in _REDUCING_OPS:
            return call
        tensors = [a for a in call.args if isinstance(getattr(a, "ty", None), relax.TensorType)]
        if not tensors or any(_dtype(a) != _F16 for a in tensors) or _dtype(call) != _F16:
            return call
        if name in _OUT_DTYPE_OPS:
            wide = relax.Call(call.op, call.args, _with_out_dtype(call.attrs, _F32))
        else:
            args = [relax.op.astype(a, _F32) if a in tensors else a for a in call.args]
            wide = relax.Call(call.op, [self.builder_.normalize(a) for a in args], call.attrs)
        self.count += 1
        return relax.op.astype(self.builder_.normalize(wide), _F16)


@tvm.transform.module_pass(opt_level=0, name="AccumulateInFloat32")
class AccumulateInFloat32:
    def transform_module(self, mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        rewriter = _Rewriter(mod)

        def one_round(func):
            before = rewriter.count
            return rewriter.visit_expr(func), rewriter.count - before

        mod = rewrite_until_stable(mod, one_round, max_rounds=1)  # one visit rewrites all
        record("float16 accumulation in float32", rewriter.count)
        return mod
