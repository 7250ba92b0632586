"""Bring a model to an ONNX opset that TVM's Relax importer handles.

TVM 0.27's importer implements operator versions up to opset 23 and falls back to the oldest
implementation below that; its converters are written and tested mostly against opset 13 and
later (axes as inputs, not attributes). Models are therefore converted with ONNX's version
converter:

- opset below ``PREFERRED_MIN`` (13): converted up to 13; if ONNX cannot convert the model, it
  is imported at its own opset (the importer still has those versions).
- opset above ``IMPORTER_MAX`` (23): converted down to 23; if that fails, the user is told to
  re-export at a supported opset.
- opset below ``OLDEST`` (7): converted up to 13 if ONNX can, else refused;
- newer than the installed onnx package knows: refused.
"""

from __future__ import annotations

import dataclasses
import logging

import onnx
from onnx import version_converter

from edgec.errors import UnsupportedModelError

logger = logging.getLogger(__name__)

OLDEST = 7
PREFERRED_MIN = 13
IMPORTER_MAX = 23
_DEFAULT_DOMAINS = ("", "ai.onnx")


@dataclasses.dataclass(frozen=True)
class OpsetChange:
    original: int
    final: int

    def describe(self) -> str:
        if self.original == self.final:
            return f"opset {self.final}"
        return f"opset {self.original} -> {self.final}"


def model_opset(model: onnx.ModelProto) -> int:
    for entry in model.opset_import:
        if entry.domain in _DEFAULT_DOMAINS:
            return int(entry.version)
    return 1


def normalize_opset(model: onnx.ModelProto, origin: str) -> tuple[onnx.ModelProto, OpsetChange]:
    """Return the model at an opset the importer handles, and what changed."""
    opset = model_opset(model)
    newest_known = onnx.defs.onnx_opset_version()
    if opset > newest_known:
        raise UnsupportedModelError(
            f"model '{origin}' uses ONNX opset {opset}, newer than the installed onnx package "
            f"knows ({newest_known}); re-export it with opset {OLDEST}..{IMPORTER_MAX}")
    if opset < OLDEST:
        converted = _try_convert(model, PREFERRED_MIN)
        if converted is not None:
            return converted, OpsetChange(opset, PREFERRED_MIN)
        raise UnsupportedModelError(
            f"model '{origin}' uses ONNX opset {opset}; edgec supports opsets "
            f"{OLDEST}..{IMPORTER_MAX} (newer ones are converted down). Re-export it with a "
            f"newer exporter, e.g. opset {PREFERRED_MIN} or later")
    if opset < PREFERRED_MIN:
        converted = _try_convert(model, PREFERRED_MIN)
        if converted is None:
            logger.info("keeping opset %d (conversion to %d failed)", opset, PREFERRED_MIN)
            return model, OpsetChange(opset, opset)
        return converted, OpsetChange(opset, PREFERRED_MIN)
    if opset > IMPORTER_MAX:
        converted = _try_convert(model, IMPORTER_MAX) or _relabel(model, opset, IMPORTER_MAX)
        if converted is None:
            raise UnsupportedModelError(
                f"model '{origin}' uses ONNX opset {opset}; edgec's importer handles opsets up "
                f"to {IMPORTER_MAX} and ONNX could not convert this model down to it. "
                f"Re-export it with opset {IMPORTER_MAX} or lower")
        return converted, OpsetChange(opset, IMPORTER_MAX)
    return model, OpsetChange(opset, opset)


def _try_convert(model: onnx.ModelProto, target: int) -> onnx.ModelProto | None:
    try:
        converted = version_converter.convert_version(model, target)
        onnx.checker.check_model(converted)
    except Exception as err:  # the converter raises bare RuntimeErrors of many kinds
        logger.debug("opset conversion to %d failed: %s", target, err)
        return None
    return converted


def _signature(schema) -> tuple:
    return ([i.name for i in schema.inputs], [o.name for o in schema.outputs],
            sorted((name, attr.type) for name, attr in schema.attributes.items()))


def _relabel(model: onnx.ModelProto, opset: int, target: int) -> onnx.ModelProto | None:
    """The model declared at opset ``target`` when ONNX's version converter (which has no
    adapters below opset 24 for most operators) cannot bring it there, provided every operator
    it uses either has, at ``target``, the same inputs, outputs and attributes as at ``opset``
    (the versions in between only admitted new element types; the element-type check still
    sees those), or has an edgec converter written to its newest version. Else None."""
    from edgec.frontend.converters import NEWEST_VERSION

    checked = True  # whether ONNX's checker can validate the model at ``target``

    def visit(graph) -> bool:
        nonlocal checked
        for node in graph.node:
            if node.domain not in _DEFAULT_DOMAINS:
                continue
            if node.op_type in NEWEST_VERSION:
                checked = False
                continue
            try:
                new = onnx.defs.get_schema(node.op_type, opset, "")
                old = onnx.defs.get_schema(node.op_type, target, "")
            except onnx.defs.SchemaError:
                return False
            if old.deprecated or (new.since_version != old.since_version
                                  and _signature(new) != _signature(old)):
                return False
            for attr in node.attribute:
                subgraphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else attr.graphs
                if not all(visit(g) for g in subgraphs):
                    return False
        return True

    if not visit(model.graph):
        return None
    relabeled = onnx.ModelProto()
    relabeled.CopyFrom(model)
    for entry in relabeled.opset_import:
        if entry.domain in _DEFAULT_DOMAINS:
            entry.version = target
    if checked:  # (the model passed ONNX's full check at its own opset when it was loaded)
        try:
            onnx.checker.check_model(relabeled, full_check=True)
        except Exception as err:  # a type the older version does not admit, among others
            logger.debug("relabeling opset %d as %d failed: %s", opset, target, err)
            return None
    logger.info("opset %d declared as %d: its operators are the same there", opset, target)
    return relabeled
