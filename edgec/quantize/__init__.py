"""Post-training int8 quantization: calibration data, activation ranges, and the step that
turns a float model into the QDQ form ``passes/qdq_to_integer.py`` runs on integers."""

from edgec.quantize.data import CalibrationSet, load_calibration
from edgec.quantize.options import QuantizeOptions

__all__ = ["CalibrationSet", "QuantizeOptions", "load_calibration"]
