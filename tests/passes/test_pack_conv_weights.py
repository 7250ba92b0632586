"""PackConvWeights: convolutions whose output rows do not fill whole SIMD registers get weights
packed [co // L, ci, kh, kw, co % L] and a kernel vectorized along output channels; the values
are the same."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tvm
from tvm import relax

from edgec.passes.pack_conv_weights import PRIMFUNC_NAME, PackConvWeights, pack_weights
from tests.passes.conftest import assert_same_values

SSE = tvm.target.Target({"kind": "llvm", "mcpu": "x86-64"})   # 4 fp32 lanes on any x86-64
RULE = "packed conv2d weights (vectors along output channels)"
DIGITS = Path(__file__).resolve().parents[2] / "examples" / "digits" / "digits_cnn.onnx"


def _module(ci=3, co=8, hw=6, groups=1, stride=1, constant=True):
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((co, ci // groups, 3, 3)).astype("float32")
    bias = rng.standard_normal((1, co, 1, 1)).astype("float32")
    x = relax.Var("x", relax.TensorType((1, ci, hw, hw), "float32"))
    params = [x]
    if constant:
        w = relax.const(weight)
    else:
        w = relax.Var("w", relax.TensorType(weight.shape, "float32"))
        params.append(w)
    bb = relax.BlockBuilder()
    with bb.function("main", params):
        with bb.dataflow():
            y = bb.emit(relax.op.nn.conv2d(x, w, strides=stride, padding=1, groups=groups))
            y = bb.emit(relax.op.nn.relu(relax.op.add(y, relax.const(bias))))
            out = bb.emit_output(y)
        bb.emit_func_output(out)
    return bb.get(), [(1, ci, hw, hw)] + ([] if constant else [weight.shape])


def _apply(mod, target=SSE):
    from edgec.passes.rewrite_log import collecting

    with target, collecting() as log:
        out = PackConvWeights()(mod)
    return out, dict(log)


def test_pack_weights_layout():
    w = np.arange(8 * 2 * 3 * 3, dtype="float32").reshape(8, 2, 3, 3)
    p = pack_weights(w, 4)
    assert p.shape == (2, 2, 3, 3, 4)
    assert p[1, 0, 2, 1, 3] == w[1 * 4 + 3, 0, 2, 1]


@pytest.mark.parametrize("hw,stride", [(6, 1), (3, 1), (9, 2)])
def test_narrow_conv_gets_packed_weights(hw, stride):
    mod, shapes = _module(hw=hw, stride=stride)
    after, log = _apply(mod)
    assert log == {RULE: 1}
    kernels = [gv.name_hint for gv, f in after.functions.items()
               if isinstance(f, tvm.tirx.PrimFunc)]
    assert kernels == [PRIMFUNC_NAME]
    from tvm.s_tir.meta_schedule.arg_info import ArgInfo

    shapes_in = [tuple(int(d) for d in a.shape)
                 for a in ArgInfo.from_prim_func(after[PRIMFUNC_NAME])]
    assert (2, 3, 3, 3, 4) in shapes_in  # the packed weights [co // 4, ci, kh, kw, co % 4]
    assert_same_values(mod, after, *shapes)


@pytest.mark.parametrize("kwargs,target", [
    (dict(hw=8), SSE),                        # rows of 8 fill two 4-lane vectors
    (dict(co=6), SSE),                        # output channels not a multiple of 4
    (dict(ci=8, groups=2), SSE),              # grouped
    (dict(constant=False), SSE),              # weights are an input: nothing to pack
    (dict(), tvm.target.Target({"kind": "c"})),  # no LLVM vector code
])
def test_other_convs_are_left_alone(kwargs, target):
    mod, _ = _module(**kwargs)
    after, log = _apply(mod, target)
    assert log == {}
    tvm.ir.assert_structural_equal(after, mod)


def test_kernel_is_scheduled_along_channels():
    """The compiled kernel keeps channel-innermost accumulators, L lanes wide."""
    from edgec.passes.default_schedules import DefaultSchedules

    mod, shapes = _module(ci=16, co=32, hw=7)
    with SSE:
        after, _ = _apply(mod)
        lowered = relax.transform.LegalizeOps()(after)
        lowered = relax.transform.AnnotateTIROpPattern()(lowered)
        lowered = relax.transform.FuseOps()(lowered)
        lowered = relax.transform.FuseTIR()(lowered)
        scheduled = DefaultSchedules()(lowered)
    [kernel] = [f for f in scheduled.functions.values() if isinstance(f, tvm.tirx.PrimFunc)]
    script = kernel.script()
    # accumulators [n, co // 4, h, w, co % 4], vectorized along the 4 channels
    [local] = [line for line in script.splitlines() if 'scope="local"' in line]
    assert local.rstrip().endswith('T.int64(4)), scope="local")'), local
    assert "T.vectorized(T.int64(4))" in script
    assert_same_values(mod, scheduled, *shapes)


def test_digits_model_matches_onnxruntime():
    import edgec
    from edgec.reference import OrtReference, compare_outputs
    from edgec.runtime.inputs import random_inputs

    artifact = edgec.compile(DIGITS, "host", input_shapes={"input": (1, 1, 8, 8)},
                             tuning_logs=False)
    assert artifact.report.rewrites.get(RULE, 0) >= 1
    inputs = random_inputs(artifact.signature, seed=3)
    result = compare_outputs(artifact.run(inputs), OrtReference(DIGITS).run(inputs),
                             atol=1e-4, rtol=0)
    assert result.passed, result.max_abs


def test_int8_conv_with_int32_accumulation_is_packed_and_exact():
    """QDQToInteger's int8 x int8 -> int32 convolutions take the packed kernel too."""
    import numpy as np
    from tvm import relax

    from edgec.passes.pack_conv_weights import PackConvWeights
    from tests.passes.conftest import run_module

    rng = np.random.default_rng(0)
    w = rng.integers(-128, 128, (16, 8, 3, 3)).astype(np.int8)
    x = relax.Var("x", relax.TensorType((1, 8, 9, 9), "int8"))
    bb = relax.BlockBuilder()
    with bb.function("main", [x]):
        with bb.dataflow():
            out = bb.emit_output(relax.op.nn.conv2d(x, relax.const(w), out_dtype="int32"))
        bb.emit_func_output(out)
    before = bb.get()
    target = tvm.target.Target({"kind": "llvm", "mcpu": "skylake-avx512"})
    with target:
        after = PackConvWeights()(before)
    assert any(gv.name_hint.startswith("conv2d_packed") for gv in after.get_global_vars())
    data = rng.integers(-128, 128, (1, 8, 9, 9)).astype(np.int8)
    np.testing.assert_array_equal(run_module(after, data), run_module(before, data))
