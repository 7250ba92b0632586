"""FoldPrologues: an explicit pad before a conv2d, and casts before a pooling, become one kernel
with it (a call_tir computing both), with the same values."""

from __future__ import annotations

import numpy as np
from tvm import relax

from edgec.passes.fold_prologues import FoldPrologues
from tests.passes.conftest import relax_ops, run_module



def _int8_block(pool: str = "avg"):
    """int8 NHWC: pad with the zero point, conv2d to int32, requantize, cast to float, pool."""
    rng = np.random.default_rng(0)
    weight = rng.integers(-127, 128, (8, 3, 3, 4)).astype("int8")
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 9, 7, 4), "int8"))
    with bb.function("main", [x]):
        with bb.dataflow():
            padded = bb.emit(relax.op.nn.pad(x, [0, 0, 1, 2, 1, 1, 0, 0], pad_value=-5.0))
            y = bb.emit(relax.op.nn.conv2d(padded, relax.const(weight), strides=2,
                                           data_layout="NHWC", kernel_layout="OHWI",
                                           out_dtype="int32"))
            y = bb.emit(relax.op.astype(relax.op.clip(relax.op.right_shift(
                y, relax.const(6, "int32")), -128, 127), "int8"))
            wide = bb.emit(relax.op.astype(relax.op.astype(y, "int32"), "float32"))
            make = relax.op.nn.avg_pool2d if pool == "avg" else relax.op.nn.max_pool2d
            out = bb.emit_output(make(wide, pool_size=2, strides=1, layout="NHWC"))
        bb.emit_func_output(out)
    return bb.get()


def test_pad_and_casts_fold_into_their_kernels(apply):
    for pool in ("avg", "max"):
        before = _int8_block(pool)
        after, log = apply(FoldPrologues(), before)
        assert log == {"pad folded into conv2d": 1, "cast folded into pooling": 1}
        ops = relax_ops(after)
        assert "relax.nn.pad" not in ops and "relax.nn.conv2d" not in ops
        assert f"relax.nn.{pool}_pool2d" not in ops and ops.count("relax.call_tir") == 2
        x = np.random.default_rng(1).integers(-128, 128, (1, 9, 7, 4)).astype("int8")
        np.testing.assert_array_equal(run_module(after, x), run_module(before, x))
        again, log = apply(FoldPrologues(), after)
        assert log == {} and again.same_as(after)


def test_no_match_is_a_no_op(apply):
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 3, 8, 8), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            weight = np.random.default_rng(3).standard_normal((4, 3, 3, 3)).astype("float32")
            y = bb.emit(relax.op.nn.conv2d(x, relax.const(weight), padding=1))
            out = bb.emit_output(relax.op.nn.avg_pool2d(y, pool_size=2))
        bb.emit_func_output(out)
    mod = bb.get()
    after, log = apply(FoldPrologues(), mod)
    assert log == {} and after.same_as(mod)


def test_float_weights_that_are_int8_stay_int8(apply):
    """A dynamic-range model's weights (int8 x per-channel scale, dequantized on import): the
    kernel stores them as int8 and decodes them, to the same float products."""
    rng = np.random.default_rng(2)
    q = rng.integers(-127, 128, (8, 3, 3, 4)).astype(np.float32)
    q[:, 0, 0, 0] = 127  # each channel's largest magnitude: its scale is max / 127
    scales = rng.uniform(0.001, 0.1, 8).astype(np.float32)
    weight = (q * scales[:, None, None, None]).astype(np.float32)
    dense = (rng.integers(-127, 128, (24, 5)) * np.float32(0.02)).astype(np.float32)
    dense[0, 0] = 127 * np.float32(0.02)
    for w, expect in ((weight, 2), (weight + np.float32(1e-4), 1)):  # the second: not int8
        bb = relax.BlockBuilder()
        x = relax.Var("x", relax.TensorType((1, 6, 6, 4), "float32"))
        with bb.function("main", [x]):
            with bb.dataflow():
                y = bb.emit(relax.op.nn.conv2d(x, relax.const(w), padding=1,
                                               data_layout="NHWC", kernel_layout="OHWI"))
                y = bb.emit(relax.op.reshape(relax.op.nn.relu(y), (12, 24)))
                out = bb.emit_output(relax.op.matmul(y, relax.const(dense)))
            bb.emit_func_output(out)
        before = bb.get()
        after, log = apply(FoldPrologues(), before)
        assert log.get("weights stored in int8 (decoded to float in the kernel)", 0) == expect
        x_value = rng.standard_normal((1, 6, 6, 4)).astype(np.float32)
        np.testing.assert_allclose(run_module(after, x_value), run_module(before, x_value),
                                   rtol=1e-5, atol=1e-5)
        if expect == 2:
            int8 = [c for c in _constants(after) if c.dtype == np.int8]
            assert {c.size for c in int8} == {weight.size, dense.size}


def _constants(mod) -> list[np.ndarray]:
    from edgec.passes.bindings import constant_array

    found = []

    def visit(expr):
        value = constant_array(expr)
        if value is not None:
            found.append(value)

    relax.analysis.post_order_visit(mod["main"], visit)
    return found
