"""Helpers for pass tests: run a pass, compare numerics before/after on the TVM VM."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm import relax

import edgec.passes.ops  # noqa: F401  (R.edgec.* in TVMScript)


def run_module(mod: tvm.IRModule, *arrays: np.ndarray):
    ex = tvm.compile(mod, tvm.target.Target({"kind": "llvm"}))
    vm = relax.VirtualMachine(ex, tvm.cpu())
    out = vm["main"](*[tvm.runtime.tensor(a) for a in arrays])
    return out.numpy()


def assert_same_values(before: tvm.IRModule, after: tvm.IRModule, *shapes, atol=1e-5):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype("float32") for s in shapes]
    np.testing.assert_allclose(run_module(after, *arrays), run_module(before, *arrays),
                               atol=atol, rtol=1e-5)


def relax_ops(mod: tvm.IRModule) -> list[str]:
    """The Relax operators ``main`` calls, in visiting order."""
    names = []

    def visit(expr):
        if isinstance(expr, relax.Call) and isinstance(expr.op, tvm.ir.Op):
            names.append(expr.op.name)

    relax.analysis.post_order_visit(mod["main"], visit)
    return names


@pytest.fixture
def apply():
    """apply(pass, mod) -> (new module, rewrite counts)."""
    from edgec.passes.rewrite_log import collecting

    def _apply(pass_obj, mod):
        with collecting() as log:
            out = pass_obj(mod)
        return out, dict(log)

    return _apply
