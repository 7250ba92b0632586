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
    bias_correction: bool = False   # subtract each layer's mean int8 error from its bias
    int8_adds: bool = False         # residual adds on int8 too (their operands quantized)

    def __post_init__(self):
        if self.method not in METHODS:
            raise OptionError(f"calibration method '{self.method}' is not one of "
                              f"{', '.join(METHODS)}")
        if not 50.0 < self.percentile <= 100.0:
            raise OptionError(f"calibration percentile {self.percentile} must be in (50, 100]")


# --quantize values: static int8 (calibrated) and the matmul-only modes that need no data
STATIC = "int8"
MATMUL_MODES = {"int8-dynamic": ("dynamic", 8), "int8-weights": ("weights", 8),
                "int4-weights": ("weights", 4)}
MODES = (STATIC, *MATMUL_MODES)


@dataclasses.dataclass(frozen=True)
class MatmulQuantization:
    """``--quantize int8-dynamic | int8-weights | int4-weights``: the matrix multiplications
    with constant weights, quantized without calibration data (``QuantizeDynamic``,
    ``QuantizeWeights``)."""

    mode: str                       # a key of MATMUL_MODES
    group_size: int = 32            # int4: rows of W per scale
    per_channel: bool = True        # dynamic: weight scales per output column (else one)

    def __post_init__(self):
        if self.mode not in MATMUL_MODES:
            raise OptionError(f"--quantize {self.mode}: not one of {', '.join(MODES)}")
        if self.group_size < 2 or self.group_size % 2:
            raise OptionError(f"--group-size {self.group_size}: int4 weights are grouped in "
                              "an even number of rows (32, 64 or 128 are usual)")

    @property
    def pass_name(self) -> str:
        return "QuantizeDynamic" if MATMUL_MODES[self.mode][0] == "dynamic" else "QuantizeWeights"

    def as_pass(self):
        kind, bits = MATMUL_MODES[self.mode]
        if kind == "dynamic":
            from edgec.passes.quantize_dynamic import QuantizeDynamic

            return QuantizeDynamic(per_channel=self.per_channel)
        from edgec.passes.quantize_weights import QuantizeWeights

        return QuantizeWeights(bits=bits, group=self.group_size)

    def summary(self) -> dict:
        """The manifest's description of it (``pipeline.quantization``)."""
        kind, bits = MATMUL_MODES[self.mode]
        entry = {"source": self.mode, "bits": bits}
        if kind == "weights" and bits == 4:
            entry["group_size"] = self.group_size
        if kind == "dynamic":
            entry["per_channel"] = self.per_channel
        return entry
