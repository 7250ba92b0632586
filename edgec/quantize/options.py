"""What the user asked quantization to do, parsed once at the boundary."""

from __future__ import annotations

import dataclasses

from edgec.errors import OptionError

METHODS = ("minmax", "percentile", "entropy")


@dataclasses.dataclass(frozen=True)
class QuantizeOptions:
    """``--quantize int8`` and its calibration choices."""

    method: str = "minmax"
    percentile: float = 99.99       # for method "percentile"
    per_channel: bool = True        # weights: one scale per output channel (else per tensor)

    def __post_init__(self):
        if self.method not in METHODS:
            raise OptionError(f"calibration method '{self.method}' is not one of "
                              f"{', '.join(METHODS)}")
        if not 50.0 < self.percentile <= 100.0:
            raise OptionError(f"calibration percentile {self.percentile} must be in (50, 100]")
