"""Read an ONNX model from a file, bytes or a ModelProto, and prove it is a valid one.

Every way a model file can be wrong (missing, not protobuf, truncated, external data missing,
failing ONNX's own full check) becomes one :class:`~edgec.errors.ModelError` naming the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from edgec.errors import ModelError

logger = logging.getLogger(__name__)

ModelSource = str | os.PathLike | bytes | onnx.ModelProto


@dataclasses.dataclass
class LoadedModel:
    """A checked ONNX model and where it came from."""

    proto: onnx.ModelProto
    name: str
    sha256: str
    origin: str  # a path, or "<ModelProto>" / "<bytes>", for messages


def load_onnx(source: ModelSource) -> LoadedModel:
    """Load ``source`` and run ONNX's full checker on it."""
    if isinstance(source, onnx.ModelProto):
        data = source.SerializeToString()
        proto = source
        origin = "<ModelProto>"
        name = source.graph.name or "model"
        base_dir = None
    elif isinstance(source, (bytes, bytearray)):
        data = bytes(source)
        origin = "<bytes>"
        proto = _parse(data, origin)
        name = proto.graph.name or "model"
        base_dir = None
    else:
        path = Path(source)
        origin = str(path)
        if not path.exists():
            raise ModelError(f"model file '{path}' does not exist")
        if not path.is_file():
            raise ModelError(f"model path '{path}' is not a file; give the path of an .onnx file")
        data = path.read_bytes()
        proto = _parse(data, origin)
        name = path.name.removesuffix(".onnx")
        base_dir = path.parent

    _check_structure(proto, origin)
    _load_external_data(proto, base_dir, origin)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "attribute: axis for operator" in first and first.endswith(
                ("QuantizeLinear", "DequantizeLinear")):
            raise ModelError(
                f"model '{origin}' quantizes per channel (QuantizeLinear/DequantizeLinear with "
                "'axis'), which ONNX defines from opset 13 only, but the model declares opset "
                f"{_default_opset(proto)}; convert the float model to opset 13 before quantizing "
                "it (onnx.version_converter.convert_version(model, 13)), or quantize per "
                "tensor") from err
        raise ModelError(f"model '{origin}' is not a valid ONNX model: {first}") from err
    return LoadedModel(proto=proto, name=name, sha256=hashlib.sha256(data).hexdigest(),
                       origin=origin)


def _default_opset(proto: onnx.ModelProto) -> int | None:
    for entry in proto.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return entry.version
    return None


def _parse(data: bytes, origin: str) -> onnx.ModelProto:
    if not data:
        raise ModelError(f"model file '{origin}' is empty; it is not an ONNX model")
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as err:
        raise ModelError(
            f"'{origin}' is not an ONNX model, or it is truncated or corrupt "
            f"(protobuf could not parse it: {err})") from err
    return proto


def _check_structure(proto: onnx.ModelProto, origin: str) -> None:
    """Catch inputs that parse as protobuf by accident (text, truncated at a field boundary)."""
    if proto.ir_version <= 0 or not proto.HasField("graph"):
        raise ModelError(
            f"'{origin}' is not an ONNX model, or it is truncated "
            "(no IR version or graph in it); export the model again")
    if not proto.graph.node:
        raise ModelError(f"model '{origin}' has an empty graph (no nodes); nothing to compile")
    if not proto.graph.output:
        raise ModelError(f"model '{origin}' has no graph outputs; nothing to compile")


def _load_external_data(proto: onnx.ModelProto, base_dir: Path | None, origin: str) -> None:
    external = [t for t in proto.graph.initializer
                if t.data_location == onnx.TensorProto.EXTERNAL]
    if not external:
        return
    if base_dir is None:
        raise ModelError(
            f"model {origin} keeps {len(external)} weights in external data files; "
            "pass the .onnx file path instead, so the data files next to it can be found")
    try:
        from onnx.external_data_helper import load_external_data_for_model

        load_external_data_for_model(proto, str(base_dir))
    except (OSError, onnx.checker.ValidationError) as err:
        raise ModelError(
            f"model '{origin}' keeps weights in external data files and one could not be "
            f"read ({str(err).strip().splitlines()[0]}); keep the data files next to the .onnx "
            "file") from err
