"""Compare outputs with the reference: max absolute and relative error, pass/fail."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 1e-4


@dataclasses.dataclass(frozen=True)
class OutputComparison:
    name: str
    max_abs: float
    max_rel: float
    passed: bool
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Comparison:
    outputs: tuple[OutputComparison, ...]
    atol: float
    rtol: float

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outputs)

    @property
    def max_abs(self) -> float:
        return max((o.max_abs for o in self.outputs), default=0.0)


def compare_outputs(actual: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray],
                    atol: float = DEFAULT_ATOL, rtol: float = DEFAULT_RTOL) -> Comparison:
    """Element-wise ``|a - e| <= atol + rtol * |e|`` for every output, matched by name."""
    results = []
    for name, want in expected.items():
        if name not in actual:
            results.append(OutputComparison(name, float("inf"), float("inf"), False,
                                            "missing from the artifact's outputs"))
            continue
        got = np.asarray(actual[name])
        want = np.asarray(want)
        if got.shape != want.shape:
            results.append(OutputComparison(name, float("inf"), float("inf"), False,
                                            f"shape {list(got.shape)} != {list(want.shape)}"))
            continue
        got64 = got.astype(np.float64)
        want64 = want.astype(np.float64)
        both_nan = np.isnan(got64) & np.isnan(want64)
        nan_mismatch = bool(np.any(np.isnan(got64) != np.isnan(want64)))
        diff = np.where(both_nan, 0.0, np.abs(got64 - want64))
        scale = np.abs(np.where(np.isnan(want64), 0.0, want64))
        max_abs = float(np.nanmax(diff)) if diff.size else 0.0
        # Relative error where the reference is not itself below the absolute tolerance.
        rel = diff / np.maximum(scale, max(atol, np.finfo(np.float64).tiny))
        max_rel = float(np.nanmax(rel)) if diff.size and not np.all(np.isnan(rel)) else 0.0
        ok = bool(np.all((diff <= atol + rtol * scale) | both_nan)) and not nan_mismatch
        results.append(OutputComparison(name, max_abs, max_rel, ok,
                                        "NaN in one output but not the other" if nan_mismatch
                                        else ""))
    return Comparison(tuple(results), atol, rtol)
