"""ONNX in, Relax out: load, check, convert opset, fix shapes, fold constants, import."""

from __future__ import annotations

import collections
import dataclasses
import logging

import onnx
import tvm

from edgec.frontend.fold_constants import FoldReport, fold_constants
from edgec.frontend.freeze import Freezes, check_shape_inputs, freeze_inputs
from edgec.frontend.onnx_load import LoadedModel, ModelSource, load_onnx
from edgec.frontend.opset import OpsetChange, normalize_opset
from edgec.frontend.shapes import (ShapeMap, fix_input_shapes, parse_shape_specs,
                                   resolve_input_specs)
from edgec.frontend.support import check_element_types, check_operators
from edgec.frontend.to_relax import import_to_relax
from edgec.signature import Signature

logger = logging.getLogger(__name__)

__all__ = ["ImportedModel", "import_onnx", "parse_shape_specs", "ModelSource"]


@dataclasses.dataclass
class ImportedModel:
    """A model as Relax, with everything the artifact manifest records about its origin."""

    mod: tvm.IRModule
    signature: Signature
    name: str
    sha256: str
    origin: str
    producer: str
    opset: OpsetChange
    onnx_ops: collections.Counter
    cleanup: FoldReport
    onnx_model: onnx.ModelProto  # after clean-up, with static shapes
    frozen: list[str] = dataclasses.field(default_factory=list)  # inputs made constants


def import_onnx(source: ModelSource, input_shapes: ShapeMap | None = None,
                freeze: Freezes | None = None) -> ImportedModel:
    """Load and check an ONNX model and import it into Relax with static input shapes;
    ``freeze``: inputs that become constants (``--freeze-input``)."""
    loaded: LoadedModel = load_onnx(source)
    model, opset = normalize_opset(loaded.proto, loaded.origin)
    check_element_types(model, loaded.origin)
    if model is loaded.proto:
        model = _copy(model)
    frozen = freeze_inputs(model, freeze or {}, loaded.origin)
    inputs = resolve_input_specs(model, input_shapes, loaded.origin)
    fix_input_shapes(model, inputs)
    original_ops = collections.Counter(n.op_type for n in model.graph.node)
    model, report = fold_constants(model)
    check_operators(model, loaded.origin)
    check_shape_inputs(model, loaded.origin)
    mod, outputs = import_to_relax(model, inputs, loaded.origin)
    producer = " ".join(p for p in (loaded.proto.producer_name,
                                    loaded.proto.producer_version) if p)
    return ImportedModel(mod=mod, signature=Signature(tuple(inputs), tuple(outputs)),
                         name=loaded.name, sha256=loaded.sha256, origin=loaded.origin,
                         producer=producer or "unknown", opset=opset, onnx_ops=original_ops,
                         cleanup=report, onnx_model=model, frozen=frozen)


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy
