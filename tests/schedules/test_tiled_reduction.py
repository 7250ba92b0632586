"""TiledReduction on the kernels FuseTIR makes around a reduction."""

from __future__ import annotations


def test_epilogue_operand_computed_before_the_reduction_is_inlined():
    """FuseTIR puts the residual's dequantize (read only by the epilogue) before the
    reduction block; the rule inlines it into the epilogue instead of giving up."""
    import numpy as np
    import tvm
    from tvm import te

    from edgec.schedules import choose_schedule

    a = te.placeholder((64, 32), "float32", name="a")
    b = te.placeholder((32, 48), "float32", name="b")
    r = te.placeholder((64, 48), "int8", name="r")
    side = te.compute(r.shape, lambda i, j: r[i, j].astype("float32") * 0.5, name="dequantized")
    k = te.reduce_axis((0, 32), name="k")
    mm = te.compute((64, 48), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="mm")
    out = te.compute((64, 48), lambda i, j: mm[i, j] + side[i, j], name="out")
    func = te.create_prim_func([a, b, r, out])
    assert [blk for blk in ("dequantized", "mm") if blk in func.script()]
    target = tvm.target.Target({"kind": "llvm", "mcpu": "skylake-avx512"})
    with target:
        choice = choose_schedule(func, target)
    assert choice.rule == "TiledReduction"
    lib = tvm.compile(choice.schedule.mod, target="llvm")
    rng = np.random.default_rng(0)
    args = [rng.standard_normal((64, 32)).astype("float32"),
            rng.standard_normal((32, 48)).astype("float32"),
            rng.integers(-128, 128, (64, 48)).astype("int8"), np.zeros((64, 48), "float32")]
    tensors = [tvm.runtime.tensor(x) for x in args]
    lib["main"](*tensors)
    want = args[0] @ args[1] + args[2].astype("float32") * 0.5
    np.testing.assert_allclose(tensors[3].numpy(), want, rtol=1e-5, atol=1e-5)
