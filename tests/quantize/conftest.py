"""Quantized models for the quantization tests: small_cnn quantized by ONNX Runtime's own
quantizer (QDQ and QOperator, int8 and uint8 activations), and calibration samples."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from tests.onnx_models import small_cnn


def int8_convs(rewrites) -> int:
    """Convolutions on int8 kernels, whether they write int8 or (when only float operators read
    their output) float."""
    return sum(n for kind, n in rewrites.items() if kind.startswith("int8 conv2d"))


def calibration_samples(count: int = 16, seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{"x": rng.standard_normal((1, 3, 16, 16)).astype(np.float32)} for _ in range(count)]


@pytest.fixture(scope="session")
def float_cnn(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("cnn") / "small_cnn.onnx"
    onnx.save(small_cnn(), path)
    return str(path)


@pytest.fixture(scope="session")
def ort_quantized(float_cnn, tmp_path_factory):
    """ort_quantized(format, activation) -> path of the model ORT's quantize_static wrote."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    made = {}

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.samples = iter(calibration_samples())

        def get_next(self):
            return next(self.samples, None)

    def make(fmt: str, activation: str) -> str:
        if (fmt, activation) not in made:
            path = tmp_path_factory.mktemp("q") / f"small_cnn_{fmt}_{activation}.onnx"
            quantize_static(float_cnn, str(path), Reader(),
                            quant_format=QuantFormat.QDQ if fmt == "qdq" else
                            QuantFormat.QOperator, per_channel=True,
                            activation_type=QuantType.QInt8 if activation == "int8" else
                            QuantType.QUInt8, weight_type=QuantType.QInt8)
            made[(fmt, activation)] = str(path)
        return made[(fmt, activation)]

    return make
