"""Output comparison against the reference."""

from __future__ import annotations

import numpy as np

from edgec.reference.compare import compare_outputs


def test_within_and_beyond_tolerance():
    want = {"y": np.array([1.0, 2.0, 0.0], np.float32)}
    ok = compare_outputs({"y": want["y"] + 5e-5}, want, atol=1e-4, rtol=0)
    assert ok.passed and abs(ok.max_abs - 5e-5) < 1e-6
    bad = compare_outputs({"y": want["y"] + np.array([0, 0, 2e-4], np.float32)}, want,
                          atol=1e-4, rtol=0)
    assert not bad.passed and abs(bad.max_abs - 2e-4) < 1e-6


def test_shape_nan_and_missing_outputs_fail():
    want = {"y": np.array([1.0, np.nan]), "z": np.zeros(2)}
    result = compare_outputs({"y": np.array([1.0, 0.0])}, want)
    assert not result.passed
    notes = {o.name: o.note for o in result.outputs}
    assert "NaN" in notes["y"] and "missing" in notes["z"]
    assert not compare_outputs({"y": np.zeros(3)}, {"y": np.zeros(2)}).passed
    assert compare_outputs({"y": np.array([np.nan])}, {"y": np.array([np.nan])}).passed
