"""TFLite in, Relax out: read a ``.tflite`` flatbuffer, check it, import it with TVM's Relax
TFLite frontend (``tflite`` package), and read back the I/O signature.

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

import numpy as np
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
_QUANTIZED_WEIGHT_TYPES = (3, 9)  # uint8, int8
_FLOAT32 = 0


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


def operator_names(model) -> collections.Counter:
    """How often each builtin (or custom) operator occurs in the main subgraph."""
    from tflite.BuiltinOperator import BuiltinOperator

    names = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
    graph = model.Subgraphs(0)
    counts: collections.Counter = collections.Counter()
    for i in range(graph.OperatorsLength()):
        code = model.OperatorCodes(graph.Operators(i).OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = names.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            custom = code.CustomCode()
            name = f"CUSTOM:{custom.decode() if custom else '?'}"
        counts[name] += 1
    return counts


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

    from edgec.frontend.to_relax import output_specs

    shapes = {s.name: tuple(s.shape) for s in inputs}
    dtypes = {s.name: s.dtype for s in inputs}
    try:
        mod = from_tflite(model, shapes, dtypes, op_converter=_converter_class())
    except EdgecError:
        raise
    except tvm.error.OpNotImplemented as err:
        raise UnsupportedModelError(
            f"model '{origin}' uses TFLite operators TVM's TFLite frontend cannot import: "
            f"{' '.join(str(err).split())}") from err
    except Exception as err:
        raise InternalError(f"TVM's TFLite frontend failed on model '{origin}': "
                            f"{type(err).__name__}: {str(err).strip()[:400]}") from err
    mod = _round_integer_average_pools(_strip_params_attr(mod))
    return mod, output_specs(mod, output_names(model), origin)


def _strip_params_attr(mod: tvm.IRModule) -> tvm.IRModule:
    """The frontend lists its constants a second time in a ``params`` attribute; they are
    bound in the body, and the copy would only keep the weights twice."""
    func = mod["main"]
    if func.attrs is not None and "params" in func.attrs:
        mod["main"] = func.without_attr("params")
    return mod


def _round_integer_average_pools(mod: tvm.IRModule) -> tvm.IRModule:
    """TFLite averages int8 pools rounding half away from zero; the frontend writes them as an
    int32 ``avg_pool2d``, which TVM computes by integer division (toward minus infinity: one step
    low on about half the outputs, always the same way, a bias later layers amplify). Average in
    float32 (exact: the sums of at most 2^24 / 255 int8 values) and round as TFLite does, ties
    away from zero (checked on LiteRT: -2.5 -> -3, 2.5 -> 3)."""
    from tvm import relax

    @relax.expr_functor.mutator
    class Rounding(relax.PyExprMutator):
        def visit_call_(self, call):
            call = super().visit_call_(call)
            if not (isinstance(call.op, tvm.ir.Op) and call.op.name == "relax.nn.avg_pool2d"):
                return call
            dtype = str(call.args[0].ty.dtype) if call.args[0].ty is not None else ""
            if not dtype.startswith(("int", "uint")):
                return call
            as_float = relax.op.astype(call.args[0], "float32")
            pooled = relax.Call(call.op, [as_float], call.attrs, call.ty_args)
            # half away from zero (TVM's round breaks ties to even)
            half_up = relax.op.floor(relax.op.add(relax.op.abs(pooled),
                                                  relax.const(0.5, "float32")))
            return relax.op.astype(relax.op.multiply(relax.op.sign(pooled), half_up), dtype)

    func = mod["main"]
    rewritten = Rounding(mod).visit_expr(func)
    if not rewritten.same_as(func):
        mod["main"] = rewritten
    return mod


def _converter_class():
    from tvm.relax.frontend.tflite.tflite_frontend import OperatorConverter, TensorWrapper

    class EdgecTFLiteConverter(OperatorConverter):
        """TVM's converter, but weights of dynamic-range quantized operators (int8 constants
        with scales, read by an operator whose activations are float) are read dequantized,
        SOFTMAX keeps its beta and SPLIT takes a [1]-shaped axis."""

        def __init__(self, model, subgraph, exp_tab, bb):
            super().__init__(model, subgraph, exp_tab, bb)
            self._hybrid_weights = hybrid_weights(model)
            self._scalars = False

        def get_tensor_value(self, tensor_wrapper, is_sparse=False):
            value = super().get_tensor_value(tensor_wrapper, is_sparse)
            if self._scalars and value.size == 1:
                return value.reshape(())
            return value

        def convert_split(self, op):
            """An axis stored as [1] (converters write it so too) read as the scalar TVM's
            converter takes it for (``int()`` of a 1-D array fails with numpy 2)."""
            self._scalars = True
            try:
                return super().convert_split(op)
            finally:
                self._scalars = False

        def convert_softmax(self, op):
            """TVM's converter drops the options' ``beta`` (softmax(beta * x)): a wrong
            answer for every beta other than 1."""
            from tflite.SoftmaxOptions import SoftmaxOptions

            options = SoftmaxOptions()
            table = op.BuiltinOptions()
            beta = 1.0
            if table is not None:
                options.Init(table.Bytes, table.Pos)
                beta = float(options.Beta())
            if beta == 1.0:
                return super().convert_softmax(op)
            from tvm import relax

            (x,), (out,) = self.get_input_tensors(op), self.get_output_tensors(op)
            expr = self.get_expr(x.tensor_idx)
            if x.qnn_params:
                expr = self.dequantize(expr, x)
            result = relax.op.nn.softmax(relax.op.multiply(expr, relax.const(beta, "float32")),
                                         axis=-1)
            return self.quantize(result, out) if out.qnn_params else result

        def get_tensors(self, tensors_idx_list):
            wrappers = super().get_tensors(tensors_idx_list)
            return [self._dequantized(w) if w.tensor_idx in self._hybrid_weights else w
                    for w in wrappers]

        def _dequantized(self, wrapper):
            tensor = wrapper.tensor
            quant = tensor.Quantization()
            raw = np.frombuffer(wrapper.buffer.DataAsNumpy(),
                                dtype=np.int8 if tensor.Type() == 9 else np.uint8)
            values = raw.reshape([int(d) for d in tensor.ShapeAsNumpy()]).astype(np.float32)
            scale = np.asarray(quant.ScaleAsNumpy(), np.float32).reshape(-1)
            zero = np.asarray(quant.ZeroPointAsNumpy(), np.float32).reshape(-1) \
                if quant.ZeroPointLength() else np.zeros(1, np.float32)
            if scale.size > 1:
                shape = [1] * values.ndim
                shape[quant.QuantizedDimension()] = scale.size
                scale, zero = scale.reshape(shape), np.broadcast_to(zero, scale.shape).reshape(
                    shape)
            dequantized = ((values - zero) * scale).astype(np.float32)
            return TensorWrapper(wrapper.tensor_idx, _FloatTensor(tensor),
                                 _Buffer(dequantized.tobytes()), None)

    return EdgecTFLiteConverter


def hybrid_weights(model) -> frozenset[int]:
    """Tensor indices of constant int8 weights read by operators whose activations are float
    (dynamic-range quantization; the check by which TVM's frontend refuses it)."""
    graph = model.Subgraphs(0)
    found = set()
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        if op.InputsLength() < 2:
            continue
        ins = [int(t) for t in op.InputsAsNumpy()]
        outs = [int(t) for t in op.OutputsAsNumpy()] if op.OutputsLength() else []
        if ins[0] < 0 or _quantized(graph.Tensors(ins[0])) or any(
                _quantized(graph.Tensors(t)) for t in outs):
            continue
        for t in ins[1:]:
            if t < 0:
                continue
            tensor = graph.Tensors(t)
            buffer = model.Buffers(tensor.Buffer())
            if (tensor.Type() in _QUANTIZED_WEIGHT_TYPES and _quantized(tensor)
                    and buffer.DataLength() > 0):
                found.add(t)
    return frozenset(found)


def _quantized(tensor) -> bool:
    quant = tensor.Quantization()
    return quant is not None and quant.ScaleLength() > 0 and bool(
        np.any(quant.ScaleAsNumpy() != 0))


class _FloatTensor:
    """A TFLite tensor seen as float32 (its dequantized values), everything else delegated."""

    def __init__(self, tensor):
        self._tensor = tensor

    def Type(self):  # noqa: N802 - the flatbuffer accessor's name
        return _FLOAT32

    def Quantization(self):  # noqa: N802
        return None

    def __getattr__(self, name):
        return getattr(self._tensor, name)


class _Buffer:
    def __init__(self, data: bytes):
        self._data = np.frombuffer(data, np.uint8)

    def DataAsNumpy(self):  # noqa: N802
        return self._data

    def DataLength(self):  # noqa: N802
        return self._data.size


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
