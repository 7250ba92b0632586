"""FoldPrologues: an explicit pad before a convolution, and a cast before a pooling, become one
kernel with it, so the padded (or widened) copy of the feature map is never stored.

    conv2d(pad(x, widths, value v), W)  ->  call_tir(conv2d_padded, x, W)
    avg_pool2d(astype(x, float32))      ->  call_tir(avg_pool2d_cast, x)     (max_pool2d too;
                                                                           up to two casts)

Each new kernel computes the pad (or cast) as a first stage and then TVM's own convolution (or
pooling) on it, the same TE computation ``LegalizeOps`` would give the two operators; the
microcontroller schedule inlines that first stage into the reduction, where padding becomes a
bounds test reading ``v``. The result is the same to the bit. Why it matters: quantized models
pad with the input's zero point (TFLite's importers make it an explicit ``pad`` before each
``SAME`` convolution), and TFLite's int8 average pooling is computed in float32 from its int8
input: as separate operators each is a tensor as big as the feature map (four times as big in
float32) that a microcontroller's arena must hold.

Runs in the lower phase before ``LegalizeOps`` for the C back end (microcontrollers); the
operators' own attributes (strides, dilation, groups, layouts, ceil mode) are kept as they are.
"""

from __future__ import annotations

import tvm
from tvm import relax, te, topi
from tvm.relax.dpl import is_op, rewrite_call, wildcard

from edgec.passes.bindings import ints, static_shape
from edgec.passes.rewrite_log import record

_POOLS = ("relax.nn.avg_pool2d", "relax.nn.max_pool2d")


def _out_type(orig: relax.Call) -> relax.TensorType | None:
    shape = static_shape(orig)
    if shape is None:
        return None
    return relax.TensorType(shape, str(orig.ty.dtype))


def _placeholder(expr: relax.Expr, name: str):
    shape = static_shape(expr)
    if shape is None:
        return None
    return te.placeholder([tvm.tirx.IntImm("int64", d) for d in shape], str(expr.ty.dtype),
                          name=name)


def _conv_with_pad(orig: relax.Call, pad: relax.Call, weight: relax.Expr):
    attrs, pad_attrs = orig.attrs, pad.attrs
    if str(pad_attrs.pad_mode) != "constant" or len(str(attrs.data_layout)) != 4 or \
            str(attrs.out_layout) != str(attrs.data_layout):
        return None
    widths = ints(pad_attrs.pad_width)
    if any(w < 0 for w in widths):
        return None
    x = _placeholder(pad.args[0], "x")
    w = _placeholder(weight, "w")
    if x is None or w is None:
        return None
    out_dtype = str(attrs.out_dtype) if str(attrs.out_dtype) not in ("", "void", "None") \
        else None
    padded = topi.nn.pad(x, widths[0::2], widths[1::2], pad_value=float(pad_attrs.pad_value),
                         name="pad_temp")
    y = topi.nn.conv(padded, w, ints(attrs.strides), ints(attrs.padding), ints(attrs.dilation),
                     int(attrs.groups), str(attrs.data_layout), str(attrs.kernel_layout),
                     out_dtype)
    return [x, w, y], [pad.args[0], weight], "conv2d_padded"


def _pool_with_cast(orig: relax.Call, casts: list[relax.Call]):
    """``casts``: the cast chain, the pooling's input first (``astype(astype(x, int32),
    float32)``: int8 -> int32 -> float32)."""
    attrs = orig.attrs
    if str(attrs.out_layout) != str(attrs.layout):
        return None
    source = casts[-1].args[0]
    x = _placeholder(source, "x")
    if x is None:
        return None
    kind = "avg" if orig.op.name.endswith("avg_pool2d") else "max"
    widened = x
    for cast in reversed(casts):
        widened = topi.cast(widened, str(cast.attrs.dtype))
    extra = {"count_include_pad": bool(attrs.count_include_pad)} if kind == "avg" else {}
    y = topi.nn.pool2d(widened, ints(attrs.pool_size), ints(attrs.strides),
                       ints(attrs.dilation), ints(attrs.padding), kind, bool(attrs.ceil_mode),
                       str(attrs.layout), **extra)
    return [x, y], [source], f"{kind}_pool2d_cast"


@tvm.transform.module_pass(opt_level=0, name="FoldPrologues")
class FoldPrologues:
    """See the module docstring."""

    def transform_module(self, mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        pad = is_op("relax.nn.pad")(wildcard())
        conv = is_op("relax.nn.conv2d")(pad, wildcard())
        inner = is_op("relax.astype")(wildcard())
        cast = is_op("relax.astype")(inner | wildcard())
        pools = [is_op(name)(cast) for name in _POOLS]
        pattern = conv | pools[0] | pools[1]
        builder = relax.BlockBuilder(mod)  # adds the new kernels (unique names, typed)
        added = [0]

        def rewrite(orig: relax.Call, matched) -> relax.Expr:
            out_type = _out_type(orig)
            if out_type is None:
                return orig
            if orig.op.name == "relax.nn.conv2d":
                built = _conv_with_pad(orig, matched[pad], orig.args[1])
                label = "pad folded into conv2d"
            else:
                casts = [matched[cast]] + ([matched[inner]] if inner in matched else [])
                built = _pool_with_cast(orig, casts)
                label = "cast folded into pooling"
            if built is None:
                return orig
            tensors, args, name = built
            # int64 indices and no global symbol, as LegalizeOps makes its kernels (FuseTIR
            # checks a fused group's buffers for equal types)
            func = te.create_prim_func(tensors, "int64").without_attr("global_symbol")
            gvar = builder.add_func(func, name)
            added[0] += 1
            record(label)
            return relax.call_tir(gvar, args, out_type)

        updates = {}
        for gvar, func in list(mod.functions_items()):
            if isinstance(func, relax.Function):
                rewritten = rewrite_call(pattern, rewrite, func)
                if not rewritten.same_as(func):
                    updates[gvar] = rewritten
        if not added[0]:
            return mod
        mod = builder.get()
        for gvar, func in updates.items():
            mod[gvar] = func
        return relax.transform.DeadCodeElimination()(mod)
