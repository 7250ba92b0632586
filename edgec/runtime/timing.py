"""Latency statistics from repeated runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class LatencyStats:
    """Per-run latencies in milliseconds."""

    count: int
    mean_ms: float
    p50_ms: float
    p99_ms: float
    min_ms: float
    max_ms: float

    @classmethod
    def from_seconds(cls, samples: Sequence[float]) -> "LatencyStats":
        ms = np.asarray(samples, dtype=np.float64) * 1e3
        return cls(count=len(ms), mean_ms=float(ms.mean()), p50_ms=float(np.percentile(ms, 50)),
                   p99_ms=float(np.percentile(ms, 99)), min_ms=float(ms.min()),
                   max_ms=float(ms.max()))

    def describe(self) -> str:
        return (f"mean {self.mean_ms:.3f} ms, p50 {self.p50_ms:.3f} ms, p99 {self.p99_ms:.3f} ms "
                f"(min {self.min_ms:.3f}, max {self.max_ms:.3f}, {self.count} runs)")
