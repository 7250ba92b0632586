"""The engines every numeric result is compared against: ONNX Runtime for ONNX models, LiteRT
for TFLite models."""

from __future__ import annotations

from edgec.reference.compare import Comparison, compare_outputs
from edgec.reference.onnxruntime_ref import OrtReference

__all__ = ["Comparison", "OrtReference", "compare_outputs", "open_reference"]


def open_reference(model, threads: int | None = None):
    """The reference engine for a model file (or its bytes): LiteRT for a ``.tflite`` model,
    ONNX Runtime otherwise."""
    from edgec.frontend.tflite_import import is_tflite

    if is_tflite(model):
        from edgec.reference.litert_ref import LiteRTReference

        return LiteRTReference(model, threads=threads)
    return OrtReference(model, threads=threads)
