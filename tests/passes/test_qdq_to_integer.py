"""QDQToInteger: dequantize -> conv2d/matmul -> quantize becomes an int8 kernel with a fused
requantization, exact against the float emulation it replaces."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm import relax

from edgec.passes.ops import round_even
from edgec.passes.qdq_to_integer import QDQToInteger
from tests.passes.conftest import run_module

W = np.array([3, -2, 5, -7, 1, 0, 2, 4], np.int8).reshape(2, 1, 2, 2)
W_SCALE = np.array([0.5, 0.25], np.float32)
BIAS = np.array([1.0, -0.5], np.float32)
X_SCALE, X_ZERO = 0.1, 3
Y_SCALE, Y_ZERO = 0.2, -1


def _c(value, dtype):
    return relax.const(np.asarray(value, dtype), dtype)


def _function(build, params):
    bb = relax.BlockBuilder()
    with bb.function("main", params):
        with bb.dataflow():
            out = bb.emit_output(build(bb, *params))
        bb.emit_func_output(out)
    return bb.get()


def conv_qdq(weight_zero=None) -> tvm.IRModule:
    """quantize(relu(conv2d(dq(x), dq(W), pad 1) + b)) as ONNX QDQ imports."""
    x = relax.Var("x", relax.TensorType((1, 1, 4, 4), "int8"))
    zero = np.zeros(2, np.int8) if weight_zero is None else weight_zero

    def build(bb, x):
        xd = bb.emit(relax.op.dequantize(x, _c(X_SCALE, "float32"), _c(X_ZERO, "int8"), 1))
        wd = bb.emit(relax.op.dequantize(_c(W, "int8"), _c(W_SCALE, "float32"),
                                         _c(zero, "int8"), 0))
        conv = bb.emit(relax.op.nn.conv2d(xd, wd, padding=[1, 1, 1, 1]))
        bias = bb.emit(relax.op.add(conv, _c(BIAS.reshape(1, 2, 1, 1), "float32")))
        act = bb.emit(relax.op.nn.relu(bias))
        return relax.op.quantize(act, _c(Y_SCALE, "float32"), _c(Y_ZERO, "int8"), 1, "int8")

    return _function(build, [x])


def conv_expected() -> tvm.IRModule:
    x = relax.Var("x", relax.TensorType((1, 1, 4, 4), "int8"))
    combined = np.float32(X_SCALE) * W_SCALE
    offset = -X_ZERO * W.astype(np.int64).sum(axis=(1, 2, 3)) \
        + np.rint(BIAS.astype(np.float64) / combined.astype(np.float64)).astype(np.int64)
    multiplier = (combined / np.float32(Y_SCALE)).reshape(1, 2, 1, 1)

    def build(bb, x):
        pad = bb.emit(relax.op.nn.pad(x, [0, 0, 0, 0, 1, 1, 1, 1], pad_value=float(X_ZERO)))
        acc = bb.emit(relax.op.nn.conv2d(pad, _c(W, "int8"), padding=0, out_dtype="int32"))
        acc = bb.emit(relax.op.add(acc, _c(offset.reshape(1, 2, 1, 1), "int32")))
        f = bb.emit(relax.op.astype(acc, "float32"))
        scaled = bb.emit(relax.op.multiply(f, _c(multiplier, "float32")))
        rounded = bb.emit(round_even(scaled))
        shifted = bb.emit(relax.op.add(rounded, _c(float(Y_ZERO), "float32")))
        clipped = bb.emit(relax.op.clip(shifted, relax.prim_value(float(Y_ZERO)),
                                        relax.prim_value(127.0)))
        return relax.op.astype(clipped, "int8")

    return _function(build, [x])


def _reference(x_q: np.ndarray) -> np.ndarray:
    """The ONNX QDQ semantics in NumPy (float64, ties to even)."""
    x = (x_q.astype(np.float64) - X_ZERO) * X_SCALE
    w = W.astype(np.float64) * W_SCALE.reshape(2, 1, 1, 1)
    xp = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)])
    out = np.zeros((1, 2, 5, 5))
    for o in range(2):
        for i in range(5):
            for j in range(5):
                out[0, o, i, j] = (xp[0, 0, i:i + 2, j:j + 2] * w[o, 0]).sum()
    out = np.maximum(out + BIAS.reshape(1, 2, 1, 1), 0)
    return np.clip(np.rint(out / Y_SCALE) + Y_ZERO, -128, 127)


def test_conv_becomes_integer_kernel(apply):
    after, log = apply(QDQToInteger(), conv_qdq())
    tvm.ir.assert_structural_equal(after, conv_expected())
    assert log == {"int8 conv2d": 1}


def test_conv_numerics_match_onnx_semantics(apply):
    after, _ = apply(QDQToInteger(), conv_qdq())
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.integers(-128, 128, (1, 1, 4, 4)).astype(np.int8)
        got = run_module(after, x).astype(np.int64)
        want = _reference(x)
        assert np.abs(got - want).max() <= 1          # float32 vs float64 at exact ties
        assert (got == want).mean() >= 0.9


def test_idempotent(apply):
    once, _ = apply(QDQToInteger(), conv_qdq())
    twice, log = apply(QDQToInteger(), once)
    tvm.ir.assert_structural_equal(once, twice)
    assert log == {}


def test_float_model_is_untouched(apply):
    x = relax.Var("x", relax.TensorType((1, 1, 4, 4), "float32"))
    mod = _function(lambda bb, x: relax.op.nn.conv2d(x, _c(W.astype(np.float32), "float32")),
                    [x])
    after, log = apply(QDQToInteger(), mod)
    tvm.ir.assert_structural_equal(after, mod)
    assert log == {}


def test_weights_whose_zero_point_does_not_fit_stay_float(apply):
    before = conv_qdq(weight_zero=np.array([-125, 0], np.int8))  # W + 125 leaves int8
    after, log = apply(QDQToInteger(), before)
    tvm.ir.assert_structural_equal(after, before)
    assert log == {"quantized operator kept in float "
                   "(weights with a zero point that does not shift into int8)": 1}


def test_uint8_weights_with_zero_point_128_shift_into_int8(apply):
    x = relax.Var("x", relax.TensorType((2, 8), "uint8"))
    w_u8 = (np.arange(24).reshape(8, 3) * 7 % 256).astype(np.uint8)

    def build(bb, x):
        xd = bb.emit(relax.op.dequantize(x, _c(0.05, "float32"), _c(128, "uint8"), 1))
        wd = bb.emit(relax.op.dequantize(_c(w_u8, "uint8"), _c(0.01, "float32"),
                                         _c(128, "uint8"), 1))
        return relax.op.matmul(xd, wd)

    before = _function(build, [x])
    after, log = apply(QDQToInteger(), before)
    assert log == {"int8 matmul (float output)": 1}
    data = np.random.default_rng(1).integers(0, 256, (2, 8)).astype(np.uint8)
    np.testing.assert_allclose(run_module(after, data), run_module(before, data), rtol=1e-5,
                               atol=1e-6)


def test_gemm_with_transposed_weight_and_float_output(apply):
    """Gemm(transB=1) imports as matmul(x, permute_dims(dq(W[N, K]))) + C."""
    x = relax.Var("x", relax.TensorType((1, 6), "int8"))
    rng = np.random.default_rng(2)
    w = rng.integers(-127, 128, (4, 6)).astype(np.int8)
    scale = rng.uniform(0.01, 0.05, 4).astype(np.float32)
    bias = rng.normal(0, 1, 4).astype(np.float32)

    def build(bb, x):
        xd = bb.emit(relax.op.dequantize(x, _c(0.1, "float32"), _c(-5, "int8"), 1))
        wd = bb.emit(relax.op.dequantize(_c(w, "int8"), _c(scale, "float32"),
                                         _c(np.zeros(4, np.int8), "int8"), 0))
        wt = bb.emit(relax.op.permute_dims(wd, [1, 0]))
        mm = bb.emit(relax.op.matmul(xd, wt))
        return relax.op.add(mm, _c(bias, "float32"))

    before = _function(build, [x])
    after, log = apply(QDQToInteger(), before)
    assert log == {"int8 matmul (float output)": 1}
    data = rng.integers(-128, 128, (1, 6)).astype(np.int8)
    np.testing.assert_allclose(run_module(after, data), run_module(before, data), rtol=1e-5,
                               atol=1e-5)
    names = [b.value.op.name for b in after["main"].body.blocks[0].bindings
             if isinstance(b.value, relax.Call)]
    assert "relax.dequantize" not in names and "relax.permute_dims" not in names


@pytest.mark.parametrize("activation", ["int8", "uint8"])
def test_quantize_rounds_ties_to_even(activation):
    """QuantizeLinear's legalization: 0.5 and 2.5 steps round to 0 and 2, as ONNX says."""
    from edgec.passes.legalize_quantize import QUANTIZE_LEGALIZATIONS

    x = relax.Var("x", relax.TensorType((4,), "float32"))
    mod = _function(lambda bb, x: relax.op.quantize(x, _c(1.0, "float32"),
                                                    _c(0, activation), 0, activation), [x])
    mod = relax.transform.LegalizeOps(customize_legalize_map=QUANTIZE_LEGALIZATIONS)(mod)
    got = run_module(mod, np.array([0.5, 2.5, 3.5, 300.0], np.float32))
    top = 127 if activation == "int8" else 255
    assert got.tolist() == [0, 2, 4, top]


def test_one_sided_clip_bounds_only_one_side(apply):
    """A Clip with only ``min`` imports as clip(x, 0, inf): the int8 kernel clips at the zero
    point and the type's top, it does not crash on the infinite bound."""
    x = relax.Var("x", relax.TensorType((1, 1, 4, 4), "int8"))

    def build(bb, x):
        xd = bb.emit(relax.op.dequantize(x, _c(X_SCALE, "float32"), _c(X_ZERO, "int8"), 1))
        wd = bb.emit(relax.op.dequantize(_c(W, "int8"), _c(W_SCALE, "float32"),
                                         _c(np.zeros(2, np.int8), "int8"), 0))
        act = bb.emit(relax.op.clip(bb.emit(relax.op.nn.conv2d(xd, wd)), 0.0, float("inf")))
        return relax.op.quantize(act, _c(Y_SCALE, "float32"), _c(Y_ZERO, "int8"), 1, "int8")

    before = _function(build, [x])
    after, log = apply(QDQToInteger(), before)
    assert log == {"int8 conv2d": 1}
    data = np.random.default_rng(4).integers(-128, 128, (1, 1, 4, 4)).astype(np.int8)
    got, want = run_module(after, data).astype(int), run_module(before, data).astype(int)
    assert got.min() >= Y_ZERO and np.abs(got - want).max() <= 1


def pool_qdq(out_scale=X_SCALE) -> tvm.IRModule:
    """quantize(max_pool2d(dequantize(x)), same parameters): what a calibrated model (a
    conv's end quantized as the input after the pool) and ORT's QDQ MaxPool look like."""
    x = relax.Var("x", relax.TensorType((1, 2, 5, 5), "int8"))

    def build(bb, x):
        xd = bb.emit(relax.op.dequantize(x, _c(X_SCALE, "float32"), _c(X_ZERO, "int8"), 1))
        pool = bb.emit(relax.op.nn.max_pool2d(xd, 3, 2, padding=1))
        return relax.op.quantize(pool, _c(out_scale, "float32"), _c(X_ZERO, "int8"), 1,
                                 "int8")

    return _function(build, [x])


def test_max_pool_runs_on_int8(apply):
    after, log = apply(QDQToInteger(), pool_qdq())
    x = relax.Var("x", relax.TensorType((1, 2, 5, 5), "int8"))
    expected = _function(lambda bb, x: relax.op.nn.max_pool2d(x, 3, 2, padding=1), [x])
    tvm.ir.assert_structural_equal(after, expected)
    assert log == {"on int8: max_pool2d": 1}
    # exact against the float emulation, the padding included (int8's minimum is below all)
    x_q = np.random.default_rng(0).integers(-128, 128, (1, 2, 5, 5)).astype(np.int8)
    np.testing.assert_array_equal(run_module(after, x_q), run_module(pool_qdq(), x_q))


def test_max_pool_between_different_scales_is_left(apply):
    before = pool_qdq(out_scale=0.3)
    after, log = apply(QDQToInteger(), before)
    tvm.ir.assert_structural_equal(after, before)
    assert not log


def concat_resize_qdq(second_zero=X_ZERO) -> tvm.IRModule:
    """quantize(concat(dq(a), resize_nearest(dq(b)))): an FPN neck's merge, one parameter set."""
    a = relax.Var("a", relax.TensorType((1, 2, 4, 4), "int8"))
    b = relax.Var("b", relax.TensorType((1, 3, 2, 2), "int8"))

    def build(bb, a, b):
        ad = bb.emit(relax.op.dequantize(a, _c(X_SCALE, "float32"), _c(X_ZERO, "int8"), 1))
        bd = bb.emit(relax.op.dequantize(b, _c(X_SCALE, "float32"), _c(second_zero, "int8"),
                                         1))
        up = bb.emit(relax.op.image.resize2d(bd, (4, 4), method="nearest_neighbor"))
        cat = bb.emit(relax.op.concat([ad, up], axis=1))
        return relax.op.quantize(cat, _c(X_SCALE, "float32"), _c(X_ZERO, "int8"), 1, "int8")

    return _function(build, [a, b])


def test_concat_and_nearest_resize_run_on_int8(apply):
    after, log = apply(QDQToInteger(), concat_resize_qdq())
    assert log == {"on int8: resize2d": 1, "on int8: concat": 1}
    assert "dequantize" not in after.script() and "quantize" not in after.script()
    rng = np.random.default_rng(1)
    a = rng.integers(-128, 128, (1, 2, 4, 4)).astype(np.int8)
    b = rng.integers(-128, 128, (1, 3, 2, 2)).astype(np.int8)
    np.testing.assert_array_equal(run_module(after, a, b), run_module(concat_resize_qdq(), a, b))


def test_concat_of_different_parameters_stays_float(apply):
    before = concat_resize_qdq(second_zero=0)
    after, log = apply(QDQToInteger(), before)
    tvm.ir.assert_structural_equal(after, before)
    assert not log


A_SCALE, A_ZERO = 0.05, -4
B_SCALE, B_ZERO = 0.08, 130


def add_qdq(b_dequantized=True, shape=(1, 2, 3, 3)) -> tvm.IRModule:
    """quantize(relu(dq(a) + dq(b))): a residual add and ReLU (int8 + uint8 operands)."""
    a = relax.Var("a", relax.TensorType(shape, "int8"))
    b = relax.Var("b", relax.TensorType(shape, "uint8" if b_dequantized else "float32"))

    def build(bb, a, b):
        ad = bb.emit(relax.op.dequantize(a, _c(A_SCALE, "float32"), _c(A_ZERO, "int8"), 1))
        bd = bb.emit(relax.op.dequantize(b, _c(B_SCALE, "float32"), _c(B_ZERO, "uint8"), 1)) \
            if b_dequantized else b
        act = bb.emit(relax.op.nn.relu(bb.emit(relax.op.add(ad, bd))))
        return relax.op.quantize(act, _c(Y_SCALE, "float32"), _c(Y_ZERO, "int8"), 1, "int8")

    return _function(build, [a, b])


def test_residual_add_becomes_int8_add(apply):
    after, log = apply(QDQToInteger(), add_qdq())
    assert log == {"int8 add": 1}
    a = relax.Var("a", relax.TensorType((1, 2, 3, 3), "int8"))
    b = relax.Var("b", relax.TensorType((1, 2, 3, 3), "uint8"))
    m_a = np.float32(A_SCALE) / np.float32(Y_SCALE)
    m_b = np.float32(B_SCALE) / np.float32(Y_SCALE)
    offset = np.float32(Y_ZERO - float(m_a) * A_ZERO - float(m_b) * B_ZERO)

    def build(bb, a, b):
        total = relax.op.add(
            relax.op.multiply(relax.op.astype(a, "float32"), relax.const(m_a, "float32")),
            relax.op.multiply(relax.op.astype(b, "float32"), relax.const(m_b, "float32")))
        total = relax.op.add(total, relax.const(offset, "float32"))
        # ReLU: the int8 range starts at the zero point
        return relax.op.astype(relax.op.clip(round_even(total), relax.prim_value(float(Y_ZERO)),
                                             relax.prim_value(127.0)), "int8")

    expected = relax.transform.Normalize()(_function(build, [a, b]))
    tvm.ir.assert_structural_equal(relax.transform.Normalize()(after), expected)
    # within one quantization step of the float emulation, on every input pair
    pairs = (1, 1, 256, 256)
    grid_a, grid_b = np.meshgrid(np.arange(-128, 128), np.arange(0, 256), indexing="ij")
    a_q, b_q = grid_a.reshape(pairs).astype(np.int8), grid_b.reshape(pairs).astype(np.uint8)
    got = run_module(QDQToInteger()(add_qdq(shape=pairs)), a_q, b_q).astype(int)
    want = run_module(add_qdq(shape=pairs), a_q, b_q).astype(int)
    assert np.abs(got - want).max() <= 1
    # (these scales put many sums exactly half-way: float32 order decides some of those ties)
    assert np.mean(got == want) > 0.95


def test_add_of_a_float_operand_is_left(apply):
    before = add_qdq(b_dequantized=False)
    after, log = apply(QDQToInteger(), before)
    tvm.ir.assert_structural_equal(after, before)
    assert not log


def test_int8_add_is_idempotent(apply):
    once, _ = apply(QDQToInteger(), add_qdq())
    twice, log = apply(QDQToInteger(), once)
    tvm.ir.assert_structural_equal(twice, once)
    assert not log
