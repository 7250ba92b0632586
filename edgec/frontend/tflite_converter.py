"""TVM's Relax TFLite frontend with edgec's fixes, each found against LiteRT:

- weights of dynamic-range ("hybrid") quantized operators (int8 constants with scales read by an
  operator whose activations are float; TVM refuses them) are read dequantized;
- SOFTMAX keeps its ``beta`` (TVM dropped it: a wrong answer for any beta but 1);
- SPLIT takes an axis stored as ``[1]`` (``int()`` of a 1-D array fails with numpy 2);
- int8 AVERAGE_POOL_2D rounds as TFLite does (see ``round_integer_average_pools``).
"""

from __future__ import annotations

import numpy as np
import tvm

_QUANTIZED_WEIGHT_TYPES = (3, 9)  # uint8, int8
_FLOAT32 = 0


def round_integer_average_pools(mod: tvm.IRModule) -> tvm.IRModule:
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


def converter_class():
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
            zero = quant.ZeroPointAsNumpy() if quant.ZeroPointLength() else None
            dequantized = dequantize_weight(raw, [int(d) for d in tensor.ShapeAsNumpy()],
                                            quant.ScaleAsNumpy(), zero,
                                            quant.QuantizedDimension())
            return TensorWrapper(wrapper.tensor_idx, _FloatTensor(tensor),
                                 _Buffer(dequantized.tobytes()), None)

    return EdgecTFLiteConverter


def dequantize_weight(raw: np.ndarray, shape, scale, zero, axis: int) -> np.ndarray:
    """``(q - zero) * scale`` in float32, per tensor or per channel along ``axis``: how edgec
    reads a dynamic-range quantized weight (and how its LiteRT reference does too)."""
    values = np.asarray(raw).reshape(shape).astype(np.float32)
    scale = np.asarray(scale, np.float32).reshape(-1)
    zero = np.asarray(zero, np.float32).reshape(-1) if zero is not None and len(zero) \
        else np.zeros(1, np.float32)
    if scale.size > 1:
        dims = [1] * values.ndim
        dims[axis] = scale.size
        scale, zero = scale.reshape(dims), np.broadcast_to(zero, scale.shape).reshape(dims)
    return ((values - zero) * scale).astype(np.float32)


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


