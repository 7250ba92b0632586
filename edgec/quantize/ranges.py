"""Activation ranges from calibration statistics, and the int8 parameters they give.

Three methods, per tensor:

- ``minmax``: the smallest and largest value seen.
- ``percentile``: the p-th and (100 - p)-th percentiles of all values seen (p = 99.99 by
  default), read from a 2048-bin histogram over [min, max]; outliers saturate instead of
  stretching the scale.
- ``entropy``: the clipping threshold T on |x| whose 128-level quantization of the 2048-bin
  histogram of |x| loses the least information, i.e. minimises KL(P || Q) with P the histogram
  clipped at T (outliers added to the last bin) and Q its quantized version expanded back over
  the non-empty bins (the method TensorRT introduced for int8; the bin of exact zeros is left
  out, since every threshold keeps zero exact), with 256 levels for a
  non-negative tensor (range [0, T]) and 128 otherwise (range [-T, T]), within [min, max].
  Guarded: when T's estimated SQNR on the same histogram is more than 6 dB below the full
  range's, the full range is kept (KL alone chose T = 0.96 of 6.2 on an MNIST CNN's first
  ReLU, a spike of background responses, and top-1 fell from 91% to 56%).

The parameters are asymmetric int8 (ONNX's ``y = saturate(round(x / scale) + zero_point)``):
the range is widened to contain 0, so that zero (convolution padding, ReLU's floor) is exact,
``scale = (hi - lo) / 255`` and ``zero_point = round(-128 - lo / scale)``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

BINS = 2048
LEVELS = 128
ENTROPY_GUARD_DB = 6.0


@dataclasses.dataclass
class Stats:
    """What calibration saw of one tensor."""

    lo: float = np.inf
    hi: float = -np.inf
    values: np.ndarray | None = None      # histogram over [lo, hi] (second pass)
    magnitudes: np.ndarray | None = None  # histogram of |x| over [0, max |x|] (second pass)

    def observe_range(self, x: np.ndarray) -> None:
        self.lo = min(self.lo, float(x.min()))
        self.hi = max(self.hi, float(x.max()))

    def observe_histogram(self, x: np.ndarray) -> None:
        if self.hi <= self.lo:
            return
        values, _ = np.histogram(x, bins=BINS, range=(self.lo, self.hi))
        top = max(abs(self.lo), abs(self.hi))
        magnitudes, _ = np.histogram(np.abs(x), bins=BINS, range=(0.0, top))
        self.values = values if self.values is None else self.values + values
        self.magnitudes = magnitudes if self.magnitudes is None else self.magnitudes + magnitudes


def value_range(stats: Stats, method: str, percentile: float = 99.99) -> tuple[float, float]:
    """The (lo, hi) range ``method`` chooses from ``stats``."""
    if method == "minmax" or stats.values is None or stats.hi <= stats.lo:
        return stats.lo, stats.hi
    if method == "percentile":
        cdf = np.cumsum(stats.values) / max(stats.values.sum(), 1)
        width = (stats.hi - stats.lo) / BINS
        lo_bin = int(np.searchsorted(cdf, (100.0 - percentile) / 100.0))
        hi_bin = int(np.searchsorted(cdf, percentile / 100.0))
        return stats.lo + lo_bin * width, stats.lo + (hi_bin + 1) * width
    if method == "entropy":
        top = max(abs(stats.lo), abs(stats.hi))
        # [0, T] gets all 256 int8 levels, [-T, T] half of them on each side
        levels = 2 * LEVELS if stats.lo >= 0 else LEVELS
        threshold = top * entropy_threshold(stats.magnitudes, levels) / BINS
        # KL can prefer a threshold just past one dominant spike (a constant background
        # response) and clip away the signal that matters: keep the full range when it has
        # clearly less error on the same histogram
        if histogram_sqnr_db(stats.magnitudes, top, threshold, levels) < \
                histogram_sqnr_db(stats.magnitudes, top, top, levels) - ENTROPY_GUARD_DB:
            threshold = top
        if stats.lo >= 0:
            return 0.0, min(threshold, stats.hi)
        return max(-threshold, stats.lo), min(threshold, stats.hi)
    raise ValueError(f"unknown calibration method {method}")


def histogram_sqnr_db(hist: np.ndarray, top: float, threshold: float, levels: int) -> float:
    """Signal over int8 error (dB) of clipping |x| at ``threshold`` with ``levels`` steps,
    estimated from a histogram of |x| over [0, top]: rounding error step^2 / 12 inside,
    the clipped distance outside."""
    centers = (np.arange(len(hist)) + 0.5) * top / len(hist)
    step = threshold / levels
    noise = np.where(centers <= threshold, step * step / 12.0, (centers - threshold) ** 2)
    signal = float(np.sum(hist * centers ** 2))
    error = float(np.sum(hist * noise))
    return 10.0 * np.log10(signal / error) if error > 0 and signal > 0 else np.inf


def entropy_threshold(hist: np.ndarray, levels: int = LEVELS) -> float:
    """The clipping point, in bins, that minimises KL(P || Q) (see the module docstring)."""
    hist = hist.astype(np.float64)
    # The first bin holds the exact zeros (ReLU outputs, padding): a spike that every
    # candidate represents exactly, but that Q would smear over its group's other bins and so
    # push the threshold down. It is left out of the comparison.
    hist[0] = 0.0
    best, best_bins = np.inf, len(hist)
    for bins in range(levels, len(hist) + 1):
        p = hist[:bins].copy()
        p[-1] += hist[bins:].sum()
        if p.sum() == 0:
            continue
        group = (np.arange(bins) * levels) // bins
        nonzero = (hist[:bins] > 0).astype(np.float64)
        sums = np.bincount(group, weights=hist[:bins], minlength=levels)
        counts = np.bincount(group, weights=nonzero, minlength=levels)
        q = np.where(nonzero > 0, sums[group] / np.maximum(counts[group], 1), 0.0)
        kl = _kl(p, q)
        if kl < best:
            best, best_bins = kl, bins
    return best_bins + 0.5 if best_bins < len(hist) else float(len(hist))


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    p = p / p.sum()
    total = q.sum()
    if total == 0:
        return np.inf
    q = q / total
    mask = p > 0
    if np.any(q[mask] == 0):
        return np.inf
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def int8_parameters(lo: float, hi: float) -> tuple[float, int]:
    """(scale, zero point) of asymmetric int8 covering [lo, hi] and 0."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo < 1e-12:
        return 1.0, 0
    scale = (hi - lo) / 255.0
    zero = int(np.clip(np.rint(-128.0 - lo / scale), -128, 127))
    return float(np.float32(scale)), zero


def weight_parameters(weight: np.ndarray, axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 weights: (int8 values, scales per ``axis`` or one scale)."""
    if axis is None:
        top = np.array([np.abs(weight).max()], np.float64)
        shape = [1] * weight.ndim
    else:
        reduce = tuple(i for i in range(weight.ndim) if i != axis)
        top = np.abs(weight).max(axis=reduce).astype(np.float64)
        shape = [1] * weight.ndim
        shape[axis] = -1
    scale = np.where(top > 0, top / 127.0, 1.0).astype(np.float32)
    values = np.clip(np.rint(weight / scale.reshape(shape)), -127, 127).astype(np.int8)
    return values, scale
