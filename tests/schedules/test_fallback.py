"""A schedule rule that cannot handle a kernel never fails a compile: the next rule takes the
kernel, and when none does it keeps TVM's unscheduled loop nest; the compile report counts
kernels that fell back."""

from __future__ import annotations

import numpy as np
import tvm
from tvm import te, topi

import edgec
from edgec.passes.default_schedules import FELL_BACK, DefaultSchedules
from edgec.reference import OrtReference
from edgec.runtime.inputs import random_inputs
from edgec.schedules import choose_schedule, default_rules
from tests.schedules.test_rules import TARGET, _run

SHAPE = "input:1,1,8,8"


class Boom:
    """A rule that raises on every kernel, as dlight's rules do on shapes they do not expect."""

    def apply(self, func, target, tunable):
        raise tvm.s_tir.ScheduleError("the block is an output block")


def _dense_with_second_output():
    """dense + bias + relu that also writes a second output, as FuseOps builds it from a
    Gemm -> Relu -> Dropout whose mask (ones) is fused into the same kernel."""
    a = te.placeholder((1, 256), name="a")
    w = te.placeholder((256, 256), name="w")
    b = te.placeholder((256,), name="b")
    y = topi.nn.relu(topi.add(topi.nn.dense(a, w), b))
    mask = topi.full_like(y, 1.0)
    return te.create_prim_func([a, w, b, y, mask]).with_attr("global_symbol", "main")


def test_two_output_kernel_is_scheduled_or_left_naive_never_raises():
    func = _dense_with_second_output()
    mod = tvm.IRModule({"main": func})
    with TARGET:
        out = DefaultSchedules()(mod)  # dlight's GEMV raised "output block" here before
    np.testing.assert_allclose(_run(out, func), _run(mod, func), rtol=1e-5, atol=1e-5)
    choice = choose_schedule(func, TARGET)
    assert choice.failures, "a rule is expected to fail on this kernel (the regression case)"


def test_a_failing_rule_hands_the_kernel_to_the_next():
    func = _dense_with_second_output()
    choice = choose_schedule(func, TARGET, [Boom(), *default_rules()])
    assert choice.failures[0].startswith("Boom: ScheduleError")
    single = te.create_prim_func(_conv_free_dense()).with_attr("global_symbol", "main")
    choice = choose_schedule(single, TARGET, [Boom(), *default_rules()])
    assert choice.rule == "TiledReduction" and choice.schedule is not None
    assert choose_schedule(single, TARGET, [Boom()]).schedule is None


def _conv_free_dense():
    a = te.placeholder((4, 64), name="a")
    w = te.placeholder((32, 64), name="w")
    return [a, w, topi.nn.dense(a, w)]


def test_compile_survives_a_rule_that_fails_everywhere(monkeypatch, digits_model):
    monkeypatch.setattr("edgec.schedules.default_rules", lambda: [Boom()])
    artifact = edgec.compile(digits_model, "host", input_shapes=[SHAPE], tuning_logs=False)
    rewrites = artifact.report.rewrites
    kernels = artifact.report.after.kernels
    assert rewrites[FELL_BACK] == kernels and rewrites["naive kernel (no rule applies)"] == kernels
    assert "fell back after a failed rule" in "\n".join(artifact.report.lines())
    inputs = random_inputs(artifact.signature, seed=3)
    want = OrtReference(digits_model).run(inputs)
    np.testing.assert_allclose(artifact.run(inputs)["logits"], want["logits"], rtol=1e-4,
                               atol=1e-4)
