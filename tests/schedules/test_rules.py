"""edgec's default CPU schedule rules on the kernels that dominate edge models: each rule takes
the kernels it is for, produces parallel and vectorized loops, and computes exactly what the
unscheduled kernel computes (both built with LLVM and run here)."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm import te, topi

from edgec.schedules import default_rules, default_schedule
from edgec.schedules.elementwise import Elementwise
from edgec.schedules.target_info import vector_lanes
from edgec.schedules.tiled_reduction import TiledReduction

TARGET = tvm.target.Target({"kind": "llvm", "mcpu": "x86-64"})  # SSE: 4 lanes, any x86-64
AVX512 = tvm.target.Target({"kind": "llvm", "mcpu": "skylake-avx512"})
NEON = tvm.target.Target({"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "cortex-a72"})


def _conv_bias_relu(groups: int = 1, kernel: int = 3, channels: int = 16, size: int = 14,
                    ci: int = 16, stride: int = 1):
    data = te.placeholder((1, ci, size, size), name="data")
    weight = te.placeholder((channels, ci // groups, kernel, kernel), name="weight")
    bias = te.placeholder((1, channels, 1, 1), name="bias")
    pad = kernel // 2
    if groups == 1:
        conv = topi.nn.conv2d_nchw(data, weight, stride, pad, 1)
    else:
        conv = topi.nn.group_conv2d_nchw(data, weight, stride, pad, 1, groups)
    out = topi.nn.relu(topi.add(conv, bias))
    return [data, weight, bias, out]


def _packed_conv_bias_relu(size: int = 14, ci: int = 32, channels: int = 64, lanes: int = 4):
    """conv2d over weights packed by PackConvWeights: [co // lanes, ci, kh, kw, co % lanes]."""
    from edgec.passes.pack_conv_weights import packed_conv2d_compute

    data = te.placeholder((1, ci, size, size), name="data")
    weight = te.placeholder((channels // lanes, ci, 3, 3, lanes), name="weight")
    bias = te.placeholder((1, channels, 1, 1), name="bias")
    conv = packed_conv2d_compute(data, weight, (1, 1), (1, 1, 1, 1), (1, 1),
                                 (1, channels, size, size))
    return [data, weight, bias, topi.nn.relu(topi.add(conv, bias))]


def _matmul_add(rows: int = 64):
    a = te.placeholder((rows, 64), name="a")
    w = te.placeholder((96, 64), name="w")
    b = te.placeholder((96,), name="b")
    return [a, w, b, topi.add(topi.nn.dense(a, w), b)]


def _max_pool(channels: int = 64):
    data = te.placeholder((1, channels, 64, 64), name="data")
    return [data, topi.nn.pool2d(data, (3, 3), (2, 2), (1, 1), (1, 1, 1, 1), "max")]


def _hard_swish(size: int = 32):
    x = te.placeholder((1, 24, size, size), name="x")
    gate = topi.clip(topi.add(x, 3.0), 0.0, 6.0)
    return [x, topi.multiply(x, topi.divide(gate, 6.0))]


def _softmax():
    x = te.placeholder((2, 100), name="x")
    return [x, topi.nn.softmax(x)]


KERNELS = {
    "conv2d 3x3 + bias + relu": (_conv_bias_relu, TiledReduction),
    "conv2d 1x1 + bias + relu": (lambda: _conv_bias_relu(kernel=1, channels=32, size=32),
                                 TiledReduction),
    "depthwise conv2d + bias + relu": (lambda: _conv_bias_relu(groups=32, ci=32, channels=32,
                                                               size=56), TiledReduction),
    "conv2d 3x3 stride 2, 3 input channels": (
        lambda: _conv_bias_relu(ci=3, channels=16, size=64, stride=2), TiledReduction),
    "depthwise conv2d stride 2": (lambda: _conv_bias_relu(groups=32, ci=32, channels=32,
                                                          size=112, stride=2), TiledReduction),
    "conv2d over packed weights + bias + relu": (_packed_conv_bias_relu, TiledReduction),
    "dense + bias": (_matmul_add, TiledReduction),
    "max pool": (_max_pool, TiledReduction),
    "hard swish": (_hard_swish, Elementwise),
    "softmax": (_softmax, None),   # several reductions: dlight's CPU rule
}


def _func(build):
    return te.create_prim_func(build()).with_attr("global_symbol", "main")


def _run(mod, func, seed=0):
    rng = np.random.default_rng(seed)
    args = []
    from tvm.s_tir.meta_schedule.arg_info import ArgInfo

    for info in ArgInfo.from_prim_func(func):
        shape = [int(d) for d in info.shape]
        args.append(tvm.runtime.tensor(rng.standard_normal(shape).astype(str(info.dtype))))
    lib = tvm.tirx.build(mod, target=TARGET)
    lib["main"](*args)
    return args[-1].numpy()


@pytest.mark.parametrize("name", list(KERNELS))
def test_rule_schedules_and_matches_unscheduled(name):
    build, rule = KERNELS[name]
    func = _func(build)
    if rule is not None:
        sch = rule().apply(func, TARGET, False)
        assert sch is not None, f"{rule.__name__} refused {name}"
        # the first rule that takes it is the one the pipeline uses
        with TARGET:
            chosen = default_schedule(func, TARGET)
        assert chosen is not None and chosen.mod.script() == sch.mod.script()
    else:
        with TARGET:
            sch = default_schedule(func, TARGET)
        assert sch is not None
    script = sch.mod.script()
    assert "T.parallel" in script and "T.vectorized" in script, script
    want = _run(tvm.IRModule({"main": func}), func)
    got = _run(sch.mod, func)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_tiled_reduction_refuses_what_it_is_not_for():
    assert TiledReduction().apply(_func(_hard_swish), TARGET, False) is None  # no reduction
    assert TiledReduction().apply(_func(_softmax), TARGET, False) is None     # two reductions
    assert Elementwise().apply(_func(_matmul_add), TARGET, False) is None
    assert TiledReduction().apply(_func(_matmul_add), tvm.target.Target({"kind": "c"}), False) is None


def test_vector_width_follows_the_target():
    assert vector_lanes(TARGET) == 4
    assert vector_lanes(AVX512) == 16
    assert vector_lanes(NEON) == 4
    sch = TiledReduction().apply(_func(_conv_bias_relu), AVX512, False)
    assert "T.vectorized(16)" in sch.mod.script() or "T.vectorized(T.int64(16))" in \
        sch.mod.script()


@pytest.mark.parametrize("build", [lambda: _conv_bias_relu(size=6), lambda: _matmul_add(rows=1),
                                   lambda: _max_pool(channels=2), lambda: _hard_swish(size=4)])
def test_small_kernels_run_on_one_core(build):
    """Waking the thread pool costs more than a tiny kernel: no parallel loop, still vectorized
    and still correct."""
    func = _func(build)
    with TARGET:
        sch = default_schedule(func, TARGET)
    script = sch.mod.script()
    assert "T.parallel" not in script and "T.vectorized" in script, script
    np.testing.assert_allclose(_run(sch.mod, func), _run(tvm.IRModule({"main": func}), func),
                               rtol=1e-5, atol=1e-5)


def test_strided_conv_reads_a_deinterleaved_input():
    """The padding of a stride-2 conv is stored as [..., w % 2, w // 2]: the conv's vector
    loads are then contiguous."""
    func = _func(lambda: _conv_bias_relu(ci=3, channels=16, size=64, stride=2))
    sch = TiledReduction().apply(func, TARGET, False)
    assert "pad_temp = T.sblock_alloc_buffer((1, 3, 66, 2, 33))" in sch.mod.script()


@pytest.mark.parametrize("target,lanes", [(TARGET, 4), (AVX512, 16)])
def test_packed_weights_vectorize_along_channels(target, lanes):
    """Over packed weights the lanes run along output channels: accumulators stored
    channel-innermost ([n, co // L, h, w, co % L]), one L-wide weight load per tap."""
    func = _func(lambda: _packed_conv_bias_relu(size=7, lanes=lanes))
    script = TiledReduction().apply(func, target, False).mod.script()
    assert f"(1, {64 // lanes}, 7, 7, {lanes}), scope=\"local\")" in script, script
    assert f"T.vectorized({lanes})" in script


def test_rule_order():
    names = [type(rule).__name__ for rule in default_rules()]
    # the int8 dot-product rule declines every kernel that is not a packed int8 conv, so it
    # goes first; then the general rules
    assert names[:3] == ["DotProductConv", "TiledReduction", "Elementwise"]
