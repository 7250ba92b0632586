"""FoldPrologues: an explicit pad before a convolution, and a cast before a pooling, become one
kernel with it, so the padded (or widened) copy of the feature map is never stored.

    conv2d(pad(x, widths, value v), W)  ->  call_tir(conv2d_padded, x, W)
    conv2d(x, W), matmul(x, W)          ->  call_tir(conv2d_int8w, x, Wq, scales)  when the
                                            float32 W is exactly int8 x a per-channel scale
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

The third keeps the weights of a dynamic-range quantized model (int8 in the file, float32
after import) in int8: a quarter of the flash, for a conversion and a multiply per
multiply-add; the products are the same floats as with the float32 weights (the scales are
chosen so that ``float32(q) * scale`` gives back every weight exactly, else nothing changes).

Runs in the lower phase before ``LegalizeOps`` for the C back end (microcontrollers); the
operators' own attributes (strides, dilation, groups, layouts, ceil mode) are kept as they are.
"""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax, te, topi
from tvm.relax.dpl import is_const, is_op, rewrite_call, wildcard

from edgec.passes.bindings import constant_array, ints, static_shape
from edgec.passes.rewrite_log import record

_POOLS = ("relax.nn.avg_pool2d", "relax.nn.max_pool2d")
# what each new kernel's name says it folded -> the rewrite-log key
_LABELS = {"_padded": "pad folded into conv2d",
           "_int8w": "weights stored in int8 (decoded to float in the kernel)",
           "_cast": "cast folded into pooling"}


def _out_type(orig: relax.Call) -> relax.TensorType | None:
    shape = static_shape(orig)
    if shape is None:
        return None
    return relax.TensorType(shape, str(orig.ty.dtype))


def _placeholder(expr: relax.Expr, name: str):
    shape = static_shape(expr)
    return None if shape is None else _int64_placeholder(shape, str(expr.ty.dtype), name)


def _int64_placeholder(shape, dtype: str, name: str):
    """A TE input with int64 extents, as LegalizeOps makes them (FuseTIR checks a fused
    group's buffers for equal types)."""
    return te.placeholder([tvm.tirx.IntImm("int64", int(d)) for d in shape], dtype, name=name)


def int8_weights(array: np.ndarray | None, axis: int):
    """``(q, scale)`` with ``q`` int8 and ``scale`` one float32 per index of ``axis`` such that
    ``float32(q) * scale`` is ``array`` exactly, or None: a float weight that is really int8
    (a dynamic-range quantized model's, dequantized on import). The scale is one for the
    tensor or one per channel, ``max|w| / 127`` or the float32 next to it on either side (the
    file's scale times 127, divided by 127, can be one unit off)."""
    if array is None or array.dtype != np.float32 or array.ndim < 2 or array.size < 64:
        return None
    rows = np.moveaxis(array, axis, 0).reshape(array.shape[axis], -1)
    whole = _int8_row(rows.reshape(-1))  # one scale for the tensor (per-tensor quantization)
    if whole is not None:
        scales = np.full(rows.shape[0], whole[1], np.float32)
        quantized = whole[0].reshape(rows.shape)
    else:
        scales = np.empty(rows.shape[0], np.float32)
        quantized = np.empty(rows.shape, np.int8)
        for c, row in enumerate(rows):
            found = _int8_row(row)
            if found is None:
                return None
            quantized[c], scales[c] = found
    shape = (array.shape[axis], *[d for i, d in enumerate(array.shape) if i != axis])
    return np.moveaxis(quantized.reshape(shape), 0, axis), scales


def _int8_row(row: np.ndarray):
    top = np.float32(np.abs(row).max())
    if top == 0:
        return np.zeros(row.shape, np.int8), np.float32(1)
    base = np.float32(top / np.float32(127))
    for scale in (base, np.nextafter(base, np.float32(0)), np.nextafter(base, np.float32(1e30))):
        q = np.rint(row / scale)
        if np.abs(q).max() <= 127 and np.array_equal(q.astype(np.float32) * scale, row):
            return q.astype(np.int8), scale
    return None


def _weight(weight: relax.Expr, axis: int):
    """The weight as a TE tensor (decoded from int8 when it is int8 in disguise), its TE
    inputs, the Relax arguments for them, and whether it was decoded."""
    found = int8_weights(constant_array(weight), axis)
    if found is None:
        w = _placeholder(weight, "w")
        return (None, [], [], False) if w is None else (w, [w], [weight], False)
    q, scales = found
    wq = _int64_placeholder(q.shape, "int8", "wq")
    ws = _int64_placeholder([scales.size], "float32", "ws")
    w = te.compute(wq.shape, lambda *i: wq(*i).astype("float32") * ws[i[axis]],
                   name="weight_decode")
    return w, [wq, ws], [relax.const(q, "int8"), relax.const(scales, "float32")], True


def _conv(orig: relax.Call, pad: relax.Call | None, weight: relax.Expr):
    attrs = orig.attrs
    layout, kernel_layout = str(attrs.data_layout), str(attrs.kernel_layout)
    if len(layout) != 4 or len(kernel_layout) != 4 or str(attrs.out_layout) != layout:
        return None
    if pad is not None:
        widths = ints(pad.attrs.pad_width)
        if str(pad.attrs.pad_mode) != "constant" or any(w < 0 for w in widths):
            return None
    source = pad.args[0] if pad is not None else orig.args[0]
    x = _placeholder(source, "x")
    made = _weight(weight, kernel_layout.index("O"))
    if x is None or made[0] is None or (pad is None and not made[3]):
        return None
    w, w_tensors, w_args, decoded = made
    out_dtype = str(attrs.out_dtype) if str(attrs.out_dtype) not in ("", "void", "None") \
        else None
    padded = x if pad is None else topi.nn.pad(
        x, widths[0::2], widths[1::2], pad_value=float(pad.attrs.pad_value), name="pad_temp")
    y = topi.nn.conv(padded, w, ints(attrs.strides), ints(attrs.padding), ints(attrs.dilation),
                     int(attrs.groups), layout, kernel_layout, out_dtype)
    name = "conv2d" + ("_padded" if pad is not None else "") + ("_int8w" if decoded else "")
    return [x, *w_tensors, y], [source, *w_args], name


def _matmul_int8_weight(orig: relax.Call):
    """``x[M, K] @ W[K, N]`` with a float W that is int8 in disguise: W decoded in the kernel."""
    x = _placeholder(orig.args[0], "x")
    if x is None or len(x.shape) != 2 or str(orig.ty.dtype) != "float32":
        return None
    made = _weight(orig.args[1], 1)
    if made[0] is None or not made[3] or len(made[0].shape) != 2:
        return None
    w, w_tensors, w_args, _ = made
    k = te.reduce_axis((0, x.shape[1]), name="k")
    y = te.compute((x.shape[0], w.shape[1]), lambda i, j: te.sum(x[i, k] * w[k, j], axis=k),
                   name="matmul")
    return [x, *w_tensors, y], [orig.args[0], *w_args], "matmul_int8w"


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
        conv = is_op("relax.nn.conv2d")(pad | wildcard(), wildcard())
        matmul = is_op("relax.matmul")(wildcard(), is_const())
        inner = is_op("relax.astype")(wildcard())
        cast = is_op("relax.astype")(inner | wildcard())
        pools = [is_op(name)(cast) for name in _POOLS]
        pattern = conv | matmul | pools[0] | pools[1]
        builder = relax.BlockBuilder(mod)  # adds the new kernels (unique names, typed)
        added = [0]

        def rewrite(orig: relax.Call, matched) -> relax.Expr:
            out_type = _out_type(orig)
            if out_type is None:
                return orig
            if orig.op.name == "relax.nn.conv2d":
                built = _conv(orig, matched[pad] if pad in matched else None, orig.args[1])
            elif orig.op.name == "relax.matmul":
                built = _matmul_int8_weight(orig)
            else:
                casts = [matched[cast]] + ([matched[inner]] if inner in matched else [])
                built = _pool_with_cast(orig, casts)
            if built is None:
                return orig
            tensors, args, name = built
            # int64 indices and no global symbol, as LegalizeOps makes its kernels (FuseTIR
            # checks a fused group's buffers for equal types)
            func = te.create_prim_func(tensors, "int64").without_attr("global_symbol")
            gvar = builder.add_func(func, name)
            added[0] += 1
            for part, label in _LABELS.items():  # the kernel's name says what it folded
                if part in name:
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
