"""TFLite in, Relax out: read a ``.tflite`` flatbuffer, check it, import it with TVM's Relax
TFLite frontend (``tflite`` package; edgec's fixes to it in ``tflite_converter.py``), and read
back the I/O signature.

Fully int8 models arrive as dequantize -> float operator -> quantize, the same form as an ONNX
QDQ model, so the pipeline's QDQ -> integer rewrite turns them into int8 kernels. Models with
dynamic-range ("hybrid") quantization keep int8 weights next to float activations; TVM's frontend
refuses them, so edgec dequantizes those weights when it reads them (the float computation is the
one the model stands for; TFLite itself quantizes the activations on the fly, which differs by
its rounding).
"""

from __future__ import annotations

import collections
import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import tvm

from edgec.errors import EdgecError, InputShapeError, InternalError, ModelError, OptionError
from edgec.errors import UnsupportedModelError
from edgec.frontend.shapes import ShapeMap
from edgec.signature import TensorSpec

logger = logging.getLogger(__name__)

FILE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier, bytes 4..8 of every .tflite file

# TFLite TensorType enum -> dtype (schema.fbs)
_DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16",
           9: "int8", 10: "float64", 12: "uint64", 15: "uint32", 16: "uint16"}


def is_tflite(source) -> bool:
    """Whether ``source`` (path or bytes) is a TFLite flatbuffer: its identifier, or for a path
    that cannot be read, its ``.tflite`` suffix."""
    if isinstance(source, (bytes, bytearray)):
        return bytes(source[4:8]) == FILE_IDENTIFIER
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            with path.open("rb") as f:
                head = f.read(8)
        except OSError:
            return path.suffix.lower() == ".tflite"
        return head[4:8] == FILE_IDENTIFIER or path.suffix.lower() == ".tflite"
    return False


def read_tflite(source) -> tuple[bytes, str, str]:
    """(bytes, name, origin) of a TFLite model given by path or bytes."""
    if isinstance(source, (bytes, bytearray)):
        return bytes(source), "model", "<bytes>"
    path = Path(source)
    if not path.exists():
        raise ModelError(f"model file '{path}' does not exist")
    if not path.is_file():
        raise ModelError(f"model path '{path}' is not a file; give the path of a .tflite file")
    return path.read_bytes(), path.name.removesuffix(".tflite"), str(path)


def parse_tflite(data: bytes, origin: str):
    """The ``tflite.Model`` of ``data``, its main subgraph read once so that a corrupt or
    truncated file fails here with one message (flatbuffers reads lazily, by offsets)."""
    tflite = _tflite_package()
    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        raise ModelError(f"'{origin}' is not a TFLite model (no 'TFL3' file identifier); give a "
                         ".tflite file written by the TFLite converter")
    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        if model.SubgraphsLength() < 1:
            raise ModelError(f"TFLite model '{origin}' has no subgraph; nothing to compile")
        graph = model.Subgraphs(0)
        for i in range(graph.TensorsLength()):
            tensor = graph.Tensors(i)
            tensor.Name(), tensor.ShapeAsNumpy(), tensor.Type()
            if tensor.Buffer() >= model.BuffersLength():
                raise ModelError(f"TFLite model '{origin}' is corrupt: tensor {i} names buffer "
                                 f"{tensor.Buffer()} of {model.BuffersLength()}")
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            if op.OpcodeIndex() >= model.OperatorCodesLength():
                raise ModelError(f"TFLite model '{origin}' is corrupt: operator {i} names "
                                 f"opcode {op.OpcodeIndex()} of {model.OperatorCodesLength()}")
            for index in list(op.InputsAsNumpy() if op.InputsLength() else []) + \
                    list(op.OutputsAsNumpy() if op.OutputsLength() else []):
                if index >= graph.TensorsLength():
                    raise ModelError(f"TFLite model '{origin}' is corrupt: operator {i} names "
                                     f"tensor {index} of {graph.TensorsLength()}")
        if graph.InputsLength() == 0 or graph.OutputsLength() == 0:
            raise ModelError(f"TFLite model '{origin}' has no inputs or no outputs")
    except ModelError:
        raise
    except Exception as err:  # struct.error, IndexError, UnicodeDecodeError... from offsets
        raise ModelError(f"'{origin}' is not a readable TFLite model; it is truncated or "
                         f"corrupt ({type(err).__name__}: {err})") from err
    return model


def operator_list(model) -> list[str]:
    """The builtin (or ``CUSTOM:name``) operator of every node of the main subgraph, in order."""
    from tflite.BuiltinOperator import BuiltinOperator

    names = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
    graph = model.Subgraphs(0)
    result = []
    for i in range(graph.OperatorsLength()):
        code = model.OperatorCodes(graph.Operators(i).OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = names.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            custom = code.CustomCode()
            name = f"CUSTOM:{custom.decode() if custom else '?'}"
        result.append(name)
    return result


def operator_names(model) -> collections.Counter:
    """How often each operator occurs in the main subgraph."""
    return collections.Counter(operator_list(model))


def input_specs(model, user: ShapeMap | None, origin: str) -> list[TensorSpec]:
    """Static specs of the main subgraph's inputs: declared shapes, with the dims TFLite marks
    dynamic (-1 in the shape signature) taken from ``user``."""
    graph = model.Subgraphs(0)
    tensors = [graph.Tensors(int(i)) for i in graph.InputsAsNumpy()]
    names = [_name(t) for t in tensors]
    user = dict(user or {})
    if "" in user:
        if len(names) != 1:
            raise InputShapeError(f"model '{origin}' has {len(names)} inputs ({', '.join(names)}); "
                                  "name the input in each shape, e.g. --input-shape NAME:1,96,96,3")
        user[names[0]] = user.pop("")
    unknown = sorted(set(user) - set(names))
    if unknown:
        raise InputShapeError(f"shape given for {', '.join(map(repr, unknown))}, but model "
                              f"'{origin}' has no such input; its inputs are: {', '.join(names)}")
    specs = []
    for name, tensor in zip(names, tensors):
        dtype = _DTYPES.get(tensor.Type())
        if dtype is None:
            raise UnsupportedModelError(f"input '{name}' of model '{origin}' has TFLite type "
                                        f"{tensor.Type()}, which edgec cannot feed")
        stored = [int(d) for d in (tensor.ShapeAsNumpy() if tensor.ShapeLength() else [])]
        declared = stored
        if tensor.ShapeSignatureLength():
            declared = [int(s) if s >= 0 else -1 for s in tensor.ShapeSignatureAsNumpy()]
        given = user.get(name)
        if given is not None:
            given = tuple(int(g) for g in given)
            if len(given) != len(declared) or any(d not in (-1, g)
                                                  for d, g in zip(declared, given)):
                raise InputShapeError(f"input '{name}' of model '{origin}' has shape "
                                      f"{_show(declared)}; the shape given, {_show(given)}, "
                                      "may only set its dynamic (-1) dimensions")
            shape = given
        elif -1 in declared and (len(stored) != len(declared) or min(stored, default=1) < 1):
            example = ",".join("N" if d < 0 else str(d) for d in declared)
            raise InputShapeError(f"input '{name}' of model '{origin}' has dynamic dimensions "
                                  f"{_show(declared)}; give its shape, e.g. --input-shape "
                                  f"{name}:{example}")
        else:
            # A dynamic dimension takes the size stored in the file, as TFLite's interpreter
            # does until it is resized (Keras exports store batch 1).
            shape = tuple(stored)
        specs.append(TensorSpec(name, shape, dtype))
    return specs


def output_names(model) -> list[str]:
    graph = model.Subgraphs(0)
    return [_name(graph.Tensors(int(i))) for i in graph.OutputsAsNumpy()]


def import_tflite_to_relax(model, inputs: Sequence[TensorSpec],
                           origin: str) -> tuple[tvm.IRModule, list[TensorSpec]]:
    """The Relax module (weights as constants) and the output specs."""
    from tvm.relax.frontend.tflite import from_tflite

    from edgec.frontend.tflite_converter import converter_class, round_integer_average_pools
    from edgec.frontend.to_relax import output_specs

    shapes = {s.name: tuple(s.shape) for s in inputs}
    dtypes = {s.name: s.dtype for s in inputs}
    try:
        mod = from_tflite(model, shapes, dtypes, op_converter=converter_class())
    except EdgecError:
        raise
    except tvm.error.OpNotImplemented as err:
        raise UnsupportedModelError(
            f"model '{origin}' uses TFLite operators TVM's TFLite frontend cannot import: "
            f"{' '.join(str(err).split())}") from err
    except Exception as err:
        raise InternalError(f"TVM's TFLite frontend failed on model '{origin}': "
                            f"{type(err).__name__}: {str(err).strip()[:400]}") from err
    mod = round_integer_average_pools(_strip_params_attr(mod))
    return mod, output_specs(mod, output_names(model), origin)


def _strip_params_attr(mod: tvm.IRModule) -> tvm.IRModule:
    """The frontend lists its constants a second time in a ``params`` attribute; they are
    bound in the body, and the copy would only keep the weights twice."""
    func = mod["main"]
    if func.attrs is not None and "params" in func.attrs:
        mod["main"] = func.without_attr("params")
    return mod


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_no_freeze(freeze, origin: str) -> None:
    if freeze:
        raise OptionError(f"--freeze-input applies to ONNX models; TFLite model '{origin}' "
                          "takes its shapes and constants from the file")


def _name(tensor) -> str:
    name = tensor.Name()
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)


def _show(dims) -> str:
    return "[" + ",".join("N" if d == -1 else str(d) for d in dims) + "]"


def _tflite_package():
    try:
        import tflite
    except ImportError as err:
        raise EdgecError("importing TFLite models needs the tflite package; install it with: "
                         "pip install 'edgec[tflite]' (or pip install tflite)") from err
    return tflite
