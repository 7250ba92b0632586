"""ONNX or TFLite in, Relax out: load, check, convert opset, fix shapes, fold constants, import."""

from __future__ import annotations

import collections
import dataclasses
import logging

import onnx
import tvm

from edgec.frontend.fold_constants import FoldReport, fold_constants
from edgec.frontend.freeze import Freezes, check_shape_inputs, freeze_inputs
from edgec.frontend.expand_functions import expand_function_ops
from edgec.frontend.narrow_types import lower_narrow_types
from edgec.frontend.onnx_load import LoadedModel, ModelSource, load_onnx
from edgec.frontend.opset import OpsetChange, normalize_opset
from edgec.frontend.shapes import (ShapeMap, fix_input_shapes, parse_shape_specs,
                                   resolve_input_specs)
from edgec.frontend.support import check_element_types, check_operators
from edgec.frontend.to_relax import import_to_relax
from edgec.frontend.unroll_scan import check_loops, unroll_scans
from edgec.signature import Signature, TensorSpec

logger = logging.getLogger(__name__)

__all__ = ["ImportedModel", "import_model", "import_onnx", "import_tflite", "parse_shape_specs",
           "ModelSource"]

_QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "QGemm",
                      "QUANTIZE", "DEQUANTIZE"})


@dataclasses.dataclass
class ImportedModel:
    """A model as Relax, with everything the artifact manifest records about its origin."""

    mod: tvm.IRModule
    signature: Signature
    name: str
    sha256: str
    origin: str
    producer: str
    opset: OpsetChange | None  # ONNX models only
    source_ops: collections.Counter  # operators of the model file, by type
    cleanup: FoldReport
    onnx_model: onnx.ModelProto | None  # after clean-up, with static shapes (ONNX models)
    frozen: list[str] = dataclasses.field(default_factory=list)  # inputs made constants
    format: str = "onnx"  # or "tflite"
    quantized: bool = False  # the model carries int8 tensors with scales (QDQ / TFLite int8)
    tflite_version: int | None = None  # TFLite schema version

    def describe_format(self) -> str:
        return self.opset.describe() if self.opset is not None else \
            f"TFLite schema {self.tflite_version}"

    def manifest_entry(self) -> dict:
        """What the artifact manifest records of the model."""
        entry = {"name": self.name, "sha256": self.sha256, "producer": self.producer}
        if self.format == "onnx":
            entry.update(opset=self.opset.final, source_opset=self.opset.original)
        else:
            entry.update(format=self.format, tflite_schema=self.tflite_version)
        if self.frozen:
            entry["frozen_inputs"] = self.frozen
        return entry


def import_model(source: ModelSource, input_shapes: ShapeMap | None = None,
                 freeze: Freezes | None = None) -> ImportedModel:
    """Import an ONNX or a TFLite model (told apart by the file's identifier)."""
    from edgec.frontend.tflite_import import is_tflite

    if not isinstance(source, onnx.ModelProto) and is_tflite(source):
        return import_tflite(source, input_shapes, freeze)
    return import_onnx(source, input_shapes, freeze)


def import_tflite(source, input_shapes: ShapeMap | None = None,
                  freeze: Freezes | None = None) -> ImportedModel:
    """Read a ``.tflite`` model and import its main subgraph into Relax with static shapes."""
    from edgec.frontend import tflite_import as tfl

    data, name, origin = tfl.read_tflite(source)
    tfl.check_no_freeze(freeze, origin)
    model = tfl.parse_tflite(data, origin)
    inputs = tfl.input_specs(model, input_shapes, origin)
    ops = tfl.operator_names(model)
    mod, outputs = tfl.import_tflite_to_relax(model, inputs, origin)
    description = model.Description()
    producer = description.decode("utf-8", "replace") if description else "unknown"
    quantized = any(s.dtype in ("int8", "uint8") for s in inputs) or bool(_QDQ_OPS & set(ops))
    return ImportedModel(mod=mod, signature=Signature(tuple(inputs), tuple(outputs)), name=name,
                         sha256=tfl.sha256(data), origin=origin, producer=producer, opset=None,
                         source_ops=ops, cleanup=FoldReport(nodes_before=sum(ops.values()),
                                                            nodes_after=sum(ops.values())),
                         onnx_model=None, format="tflite", quantized=quantized,
                         tflite_version=int(model.Version()))


def import_onnx(source: ModelSource, input_shapes: ShapeMap | None = None,
                freeze: Freezes | None = None) -> ImportedModel:
    """Load and check an ONNX model and import it into Relax with static input shapes;
    ``freeze``: inputs that become constants (``--freeze-input``)."""
    loaded: LoadedModel = load_onnx(source)
    model = _copy(loaded.proto)
    declared = lower_narrow_types(model, loaded.origin)
    expand_function_ops(model)
    model, opset = normalize_opset(model, loaded.origin)
    check_element_types(model, loaded.origin)
    frozen = freeze_inputs(model, freeze or {}, loaded.origin)
    inputs = resolve_input_specs(model, input_shapes, loaded.origin)
    fix_input_shapes(model, inputs)
    original_ops = collections.Counter(n.op_type for n in model.graph.node)
    model, report = fold_constants(model)
    if unroll_scans(model):  # (after folding: the steps come from shapes it resolves)
        model, again = fold_constants(model)
        report.nodes_after = again.nodes_after
    check_operators(model, loaded.origin)
    check_shape_inputs(model, loaded.origin)
    check_loops(model, loaded.origin)
    mod, outputs = import_to_relax(model, inputs, loaded.origin)
    producer = " ".join(p for p in (loaded.proto.producer_name,
                                    loaded.proto.producer_version) if p)
    signature = Signature(tuple(_declared(s, declared) for s in inputs),
                          tuple(_declared(s, declared) for s in outputs))
    return ImportedModel(mod=mod, signature=signature,
                         name=loaded.name, sha256=loaded.sha256, origin=loaded.origin,
                         producer=producer or "unknown", opset=opset, source_ops=original_ops,
                         cleanup=report, onnx_model=model, frozen=frozen,
                         quantized=bool(_QDQ_OPS & set(original_ops)))


def _declared(spec: TensorSpec, declared: dict[str, str]) -> TensorSpec:
    """``spec`` with the element type the model declares (float8, int4, ...), where the
    compiled function holds the tensor in a byte-wide storage type."""
    if spec.name not in declared:
        return spec
    return dataclasses.replace(spec, dtype=declared[spec.name])


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy
