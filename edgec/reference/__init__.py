"""ONNX Runtime as the reference every numeric result is compared against."""

from edgec.reference.compare import Comparison, compare_outputs
from edgec.reference.onnxruntime_ref import OrtReference

__all__ = ["Comparison", "OrtReference", "compare_outputs"]
