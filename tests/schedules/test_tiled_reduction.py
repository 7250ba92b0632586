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


def test_broadcast_epilogue_runs_at_the_root_in_parallel():
    """Squeeze-and-excitation: a small matvec whose epilogue scales a whole feature map by
    its per-channel result. The epilogue up to the broadcast is computed from the
    accumulator; the feature-map part is one root loop nest, parallel by its own size (the
    matvec is too small to run on two cores), not recomputed inside the matvec's tiles."""
    import numpy as np
    import tvm
    from tvm import te

    from edgec.schedules import choose_schedule

    x = te.placeholder((1, 64), "float32", name="x")
    w = te.placeholder((64, 96), "float32", name="w")
    fmap = te.placeholder((1, 80, 80, 96), "float32", name="fmap")
    k = te.reduce_axis((0, 64), name="k")
    se = te.compute((1, 96), lambda i, j: te.sum(x[i, k] * w[k, j], axis=k), name="se")
    gate = te.compute((1, 96), lambda i, j: te.sigmoid(se[i, j]), name="gate")
    out = te.compute(fmap.shape, lambda n, h, ww, c: fmap[n, h, ww, c] * gate[0, c],
                     name="scaled")
    func = te.create_prim_func([x, w, fmap, out])
    target = tvm.target.Target({"kind": "llvm", "mcpu": "skylake-avx512", "num-cores": 2})
    with target:
        choice = choose_schedule(func, target)
    assert choice.rule == "TiledReduction"
    script = choice.schedule.mod.script()
    assert script.count("T.parallel") == 1 and "sigmoid" in script
    lib = tvm.compile(choice.schedule.mod, target="llvm")
    rng = np.random.default_rng(0)
    args = [rng.standard_normal(s).astype("float32") for s in ((1, 64), (64, 96), (1, 80, 80, 96))]
    args.append(np.zeros((1, 80, 80, 96), "float32"))
    tensors = [tvm.runtime.tensor(a) for a in args]
    lib["main"](*tensors)
    gate_np = 1 / (1 + np.exp(-(args[0] @ args[1])))
    np.testing.assert_allclose(tensors[3].numpy(), args[2] * gate_np[0], rtol=1e-5, atol=1e-5)


def _mean_variance_normalization():
    """The kernel TVM fuses from ONNX's MeanVarianceNormalization, expanded (x[3,3,3,1]
    normalized over axes 0, 2, 3; the variance given): the mean, its epilogue (the root of the
    variance minus its square), and beyond the mean's domain ``(x - mean) / (root + eps)``."""
    from tvm.script import tirx as T

    @T.prim_func(s_tir=True)
    def mvn(X: T.Buffer((3, 3, 3, 1), "float32"), var: T.Buffer((1, 3, 1, 1), "float32"),
            out: T.Buffer((3, 3, 3, 1), "float32")):
        T.func_attr({"tirx.noalias": True})
        total = T.sblock_alloc_buffer((1, 3, 1, 1))
        mean = T.sblock_alloc_buffer((1, 3, 1, 1))
        root = T.sblock_alloc_buffer((1, 3, 1, 1))
        centered = T.sblock_alloc_buffer((3, 3, 3, 1))
        for a0, a1, a2, a3, k0, k2, k3 in T.grid(1, 3, 1, 1, 3, 3, 1):
            with T.sblock("total"):
                v0, v1, v2, v3, r0, r2, r3 = T.axis.remap("SSSSRRR", [a0, a1, a2, a3, k0, k2,
                                                                      k3])
                T.reads(X[r0, v1, r2, r3])
                T.writes(total[v0, v1, v2, v3])
                with T.init():
                    total[v0, v1, v2, v3] = T.float32(0.0)
                total[v0, v1, v2, v3] = total[v0, v1, v2, v3] + X[r0, v1, r2, r3]
        for a0, a1, a2, a3 in T.grid(1, 3, 1, 1):
            with T.sblock("mean"):
                v0, v1, v2, v3 = T.axis.remap("SSSS", [a0, a1, a2, a3])
                mean[v0, v1, v2, v3] = total[v0, v1, v2, v3] / T.float32(9.0)
        for a0, a1, a2, a3 in T.grid(1, 3, 1, 1):
            with T.sblock("deviation"):
                v0, v1, v2, v3 = T.axis.remap("SSSS", [a0, a1, a2, a3])
                root[v0, v1, v2, v3] = T.sqrt(var[v0, v1, v2, v3] - mean[v0, v1, v2, v3]
                                              * mean[v0, v1, v2, v3])
        for a0, a1, a2, a3 in T.grid(3, 3, 3, 1):
            with T.sblock("centered"):
                v0, v1, v2, v3 = T.axis.remap("SSSS", [a0, a1, a2, a3])
                centered[v0, v1, v2, v3] = X[v0, v1, v2, v3] - mean[0, v1, 0, v3]
        for a0, a1, a2, a3 in T.grid(3, 3, 3, 1):
            with T.sblock("out"):
                v0, v1, v2, v3 = T.axis.remap("SSSS", [a0, a1, a2, a3])
                out[v0, v1, v2, v3] = centered[v0, v1, v2, v3] / (root[0, v1, 0, v3]
                                                                  + T.float32(1e-9))

    return mvn


def test_broadcast_epilogue_reading_the_reduction_itself_compiles():
    """Beyond the reduction's domain, the epilogue reads the mean itself: computing the
    epilogue's head (the root) from the accumulator left the mean's buffer unwritten (TVM's
    code generation failed); such a kernel goes to the next rule."""
    import numpy as np
    import tvm

    from edgec.schedules import choose_schedule

    func = _mean_variance_normalization()
    target = tvm.target.Target({"kind": "llvm", "mcpu": "skylake-avx512"})
    with target:
        choice = choose_schedule(func, target)
    assert choice.schedule is not None and choice.rule != "TiledReduction"
    lib = tvm.compile(choice.schedule.mod, target="llvm")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 3, 3, 1)).astype("float32")
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = (mean * mean + rng.uniform(0.5, 1.0, mean.shape)).astype("float32")
    tensors = [tvm.runtime.tensor(a) for a in (x, var, np.zeros_like(x))]
    lib["main"](*tensors)
    want = (x - mean) / (np.sqrt(var - mean * mean) + 1e-9)
    np.testing.assert_allclose(tensors[2].numpy(), want, rtol=1e-5, atol=1e-6)
