"""ReduceMax/ReduceMin legalized with an infinite identity: the max of a row of -inf is -inf
(TVM's legalization gave -3.4e38), and everything else is unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm import relax

from edgec.passes.legalize_reductions import REDUCTION_LEGALIZATIONS


def _run(op, x: np.ndarray, axis, keepdims, custom: bool) -> np.ndarray:
    bb = relax.BlockBuilder()
    var = relax.Var("x", relax.TensorType(x.shape, str(x.dtype)))
    with bb.function("main", [var]):
        with bb.dataflow():
            out = bb.emit_output(op(var, axis=axis, keepdims=keepdims))
        bb.emit_func_output(out)
    mod = bb.get()
    legalize = relax.transform.LegalizeOps(REDUCTION_LEGALIZATIONS if custom else None)
    ex = tvm.compile(legalize(mod), tvm.target.Target({"kind": "llvm"}))
    vm = relax.VirtualMachine(ex, tvm.cpu())
    return vm["main"](tvm.runtime.tensor(x)).numpy()


@pytest.mark.parametrize("op, np_op, bad", [(relax.op.max, np.max, -np.inf),
                                            (relax.op.min, np.min, np.inf)])
@pytest.mark.parametrize("axis, keepdims", [([-1], True), ([0, 2], False), (None, False),
                                            ([1], False)])
def test_matches_numpy_including_infinite_rows(op, np_op, bad, axis, keepdims):
    x = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32)
    x[1] = bad
    got = _run(op, x, axis, keepdims, custom=True)
    want = np_op(x, axis=None if axis is None else tuple(axis), keepdims=keepdims)
    np.testing.assert_array_equal(got, want)


def test_tvm_default_was_wrong_for_infinite_rows():
    """The regression this legalization exists for (if TVM fixes it, this test says so)."""
    x = np.full((2, 3), -np.inf, dtype=np.float32)
    assert np.all(np.isfinite(_run(relax.op.max, x, [-1], False, custom=False)))
    assert np.all(_run(relax.op.max, x, [-1], False, custom=True) == -np.inf)


def test_integers_keep_their_range():
    x = np.array([[3, -7, 5], [0, 0, 0]], dtype=np.int32)
    np.testing.assert_array_equal(_run(relax.op.max, x, [1], False, custom=True), [5, 0])
    np.testing.assert_array_equal(_run(relax.op.min, x, [1], True, custom=True), [[-7], [0]])
