"""Write small TFLite models (flatbuffers, through the ``tflite`` package's generated builders)
for tests: tensors, constant buffers, builtin operators with their options tables.

    b = TFLiteBuilder()
    x = b.input("x", [1, 8, 8, 3])
    w = b.const("w", weights)                    # float32 or int8/int32 arrays
    y = b.tensor("y", [1, 8, 8, 4])
    b.op("CONV_2D", [x, w, bias], [y], "Conv2DOptions", Padding=0, StrideW=1, StrideH=1)
    data = b.finish([x], [y])
"""

from __future__ import annotations

import importlib

import flatbuffers
import numpy as np

_TYPES = {"float32": 0, "float16": 1, "int32": 2, "uint8": 3, "int64": 4, "bool": 6,
          "int16": 7, "int8": 9}


def _module(name: str):
    return importlib.import_module(f"tflite.{name}")


def _call(table: str, suffix: str, *args):
    return getattr(_module(table), f"{table}{suffix}")(*args)


class TFLiteBuilder:
    def __init__(self):
        self.tensors: list[dict] = []
        self.buffers: list[bytes] = [b""]
        self.ops: list[tuple] = []
        self.codes: dict[int, int] = {}

    # -- tensors ---------------------------------------------------------------------------
    def tensor(self, name, shape, dtype="float32", quant=None, buffer=0) -> int:
        self.tensors.append({"name": name, "shape": list(shape), "type": _TYPES[dtype],
                             "quant": quant, "buffer": buffer})
        return len(self.tensors) - 1

    def input(self, name, shape, dtype="float32", quant=None) -> int:
        return self.tensor(name, shape, dtype, quant)

    def const(self, name, array, quant=None) -> int:
        array = np.asarray(array)  # (ascontiguousarray would make a scalar 1-D)
        self.buffers.append(array.tobytes())
        return self.tensor(name, array.shape, str(array.dtype), quant, len(self.buffers) - 1)

    # -- operators -------------------------------------------------------------------------
    def op(self, builtin: str, inputs, outputs, options: str | None = None, **fields):
        from tflite.BuiltinOperator import BuiltinOperator

        code = getattr(BuiltinOperator, builtin)
        self.codes.setdefault(code, len(self.codes))
        self.ops.append((self.codes[code], list(inputs), list(outputs), options, fields))

    # -- serialization ---------------------------------------------------------------------
    def finish(self, inputs, outputs) -> bytes:
        from tflite.BuiltinOptions import BuiltinOptions

        b = flatbuffers.Builder(1024)
        buffers = []
        for data in self.buffers:
            vec = b.CreateByteVector(data) if data else None
            _call("Buffer", "Start", b)
            if vec is not None:
                _call("Buffer", "AddData", b, vec)
            buffers.append(_call("Buffer", "End", b))
        tensors = []
        for t in self.tensors:
            name = b.CreateString(t["name"])
            shape = self._ints(b, "Tensor", "Shape", t["shape"])
            quant = self._quant(b, t["quant"]) if t["quant"] else None
            _call("Tensor", "Start", b)
            _call("Tensor", "AddName", b, name)
            _call("Tensor", "AddShape", b, shape)
            _call("Tensor", "AddType", b, t["type"])
            _call("Tensor", "AddBuffer", b, t["buffer"])
            if quant is not None:
                _call("Tensor", "AddQuantization", b, quant)
            tensors.append(_call("Tensor", "End", b))
        ops = []
        for code, ins, outs, options, fields in self.ops:
            opts = self._options(b, options, fields) if options else None
            ins_vec = self._ints(b, "Operator", "Inputs", ins)
            outs_vec = self._ints(b, "Operator", "Outputs", outs)
            _call("Operator", "Start", b)
            _call("Operator", "AddOpcodeIndex", b, code)
            _call("Operator", "AddInputs", b, ins_vec)
            _call("Operator", "AddOutputs", b, outs_vec)
            if opts is not None:
                _call("Operator", "AddBuiltinOptionsType", b, getattr(BuiltinOptions, options))
                _call("Operator", "AddBuiltinOptions", b, opts)
            ops.append(_call("Operator", "End", b))
        graph_tensors = self._offsets(b, "SubGraph", "Tensors", tensors)
        graph_ops = self._offsets(b, "SubGraph", "Operators", ops)
        graph_in = self._ints(b, "SubGraph", "Inputs", inputs)
        graph_out = self._ints(b, "SubGraph", "Outputs", outputs)
        _call("SubGraph", "Start", b)
        _call("SubGraph", "AddTensors", b, graph_tensors)
        _call("SubGraph", "AddOperators", b, graph_ops)
        _call("SubGraph", "AddInputs", b, graph_in)
        _call("SubGraph", "AddOutputs", b, graph_out)
        graph = _call("SubGraph", "End", b)
        codes = []
        for code in sorted(self.codes, key=self.codes.get):
            _call("OperatorCode", "Start", b)
            _call("OperatorCode", "AddDeprecatedBuiltinCode", b, min(code, 127))
            _call("OperatorCode", "AddBuiltinCode", b, code)
            _call("OperatorCode", "AddVersion", b, 1)
            codes.append(_call("OperatorCode", "End", b))
        codes_vec = self._offsets(b, "Model", "OperatorCodes", codes)
        graphs_vec = self._offsets(b, "Model", "Subgraphs", [graph])
        buffers_vec = self._offsets(b, "Model", "Buffers", buffers)
        description = b.CreateString("edgec test model")
        _call("Model", "Start", b)
        _call("Model", "AddVersion", b, 3)
        _call("Model", "AddOperatorCodes", b, codes_vec)
        _call("Model", "AddSubgraphs", b, graphs_vec)
        _call("Model", "AddDescription", b, description)
        _call("Model", "AddBuffers", b, buffers_vec)
        b.Finish(_call("Model", "End", b), file_identifier=b"TFL3")
        return bytes(b.Output())

    @staticmethod
    def _ints(b, table, field, values):
        _call(table, f"Start{field}Vector", b, len(values))
        for v in reversed(values):
            b.PrependInt32(int(v))
        return b.EndVector()

    @staticmethod
    def _offsets(b, table, field, values):
        _call(table, f"Start{field}Vector", b, len(values))
        for v in reversed(values):
            b.PrependUOffsetTRelative(v)
        return b.EndVector()

    @staticmethod
    def _quant(b, quant):
        scale, zero = np.atleast_1d(quant["scale"]), np.atleast_1d(quant["zero_point"])
        _call("QuantizationParameters", "StartScaleVector", b, len(scale))
        for v in reversed(scale):
            b.PrependFloat32(float(v))
        scale_vec = b.EndVector()
        _call("QuantizationParameters", "StartZeroPointVector", b, len(zero))
        for v in reversed(zero):
            b.PrependInt64(int(v))
        zero_vec = b.EndVector()
        _call("QuantizationParameters", "Start", b)
        _call("QuantizationParameters", "AddScale", b, scale_vec)
        _call("QuantizationParameters", "AddZeroPoint", b, zero_vec)
        _call("QuantizationParameters", "AddQuantizedDimension", b,
              int(quant.get("axis", 0)))
        return _call("QuantizationParameters", "End", b)

    @staticmethod
    def _options(b, table, fields):
        vectors = {k: v for k, v in fields.items() if isinstance(v, (list, tuple))}
        made = {}
        for key, values in vectors.items():
            _call(table, f"Start{key}Vector", b, len(values))
            for v in reversed(values):
                b.PrependInt32(int(v))
            made[key] = b.EndVector()
        _call(table, "Start", b)
        for key, value in fields.items():
            _call(table, f"Add{key}", b, made.get(key, value))
        return _call(table, "End", b)
