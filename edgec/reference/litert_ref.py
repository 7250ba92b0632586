"""LiteRT (TFLite's interpreter) as the numeric reference for TFLite models."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from edgec.errors import EdgecError, ModelError
from edgec.runtime.timing import LatencyStats


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as err:
        raise EdgecError("comparing with LiteRT needs the ai-edge-litert package; install it "
                         "with: pip install 'edgec[tflite]' (or pip install ai-edge-litert)"
                         ) from err
    return Interpreter


class LiteRTReference:
    """A LiteRT interpreter (its default CPU kernels, XNNPACK) for one ``.tflite`` model."""

    name = "LiteRT"

    def __init__(self, model: str | Path | bytes, threads: int | None = None):
        interpreter = _interpreter_class()
        self.threads = threads
        if not isinstance(model, bytes) and not Path(model).is_file():
            raise ModelError(f"reference model '{model}' does not exist")
        self.note, float_copy = _dynamic_range(model)
        try:
            content = float_copy or (model if isinstance(model, bytes) else None)
            kwargs = {"model_content": content} if content is not None else \
                {"model_path": str(model)}
            self._interp = interpreter(num_threads=threads or None, **kwargs)
            self._interp.allocate_tensors()
        except Exception as err:  # LiteRT raises ValueError/RuntimeError with its own text
            raise ModelError(f"LiteRT cannot load reference model '{model}': "
                             f"{str(err).strip().splitlines()[0]}") from err
        self._inputs = self._interp.get_input_details()
        self._outputs = self._interp.get_output_details()
        self.input_names = [d["name"] for d in self._inputs]
        self.output_names = [d["name"] for d in self._outputs]

    def _feed(self, inputs: Mapping[str, np.ndarray]) -> None:
        missing = [n for n in self.input_names if n not in inputs]
        if missing:
            raise ModelError(f"the reference model takes input(s) {', '.join(missing)} that the "
                             "artifact does not; --check needs the model it was compiled from")
        for detail in self._inputs:
            value = np.asarray(inputs[detail["name"]], dtype=detail["dtype"])
            if list(value.shape) != list(detail["shape"]):
                self._interp.resize_tensor_input(detail["index"], list(value.shape))
                self._interp.allocate_tensors()
            self._interp.set_tensor(detail["index"], value)

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._feed(inputs)
        self._interp.invoke()
        return {d["name"]: np.array(self._interp.get_tensor(d["index"])) for d in self._outputs}

    def benchmark(self, inputs: Mapping[str, np.ndarray], repeat: int) -> LatencyStats:
        """Time ``repeat`` invocations after one warm-up, inputs set once."""
        import time

        self._feed(inputs)
        self._interp.invoke()
        samples = []
        for _ in range(max(1, repeat)):
            start = time.perf_counter()
            self._interp.invoke()
            samples.append(time.perf_counter() - start)
        return LatencyStats.from_seconds(samples)


def _dynamic_range(model) -> tuple[str, bytes | None]:
    """For a model with dynamic-range quantization: a note saying how the reference runs it,
    and a copy of it with those weights dequantized to float32. ('', None) otherwise.

    LiteRT runs such weights with kernels that quantize the activations to int8 on every call,
    an approximation of the float model; edgec computes the float model itself (the weights
    dequantized). Checked against LiteRT's approximation the two differ by int8 rounding
    (tenths, on a softmax), which proves nothing; so the reference runs the same file with the
    weights stored dequantized, and the check is as strict as for any float model."""
    from edgec.frontend.tflite_converter import hybrid_weights
    from edgec.frontend.tflite_import import parse_tflite

    data = model if isinstance(model, bytes) else Path(model).read_bytes()
    try:
        weights = hybrid_weights(parse_tflite(data, str(model)[:80]))
    except EdgecError:
        return "", None
    if not weights:
        return "", None
    note = (f"the model has dynamic-range quantization ({len(weights)} int8 weight tensors "
            "read by float operators): LiteRT ran it with those weights dequantized to float, "
            "as edgec computes it (LiteRT's own kernels for such weights quantize the "
            "activations to int8 on every call, an approximation of the float model)")
    return note, _with_float_weights(data, weights)


def _with_float_weights(data: bytes, weights) -> bytes:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    from edgec.frontend.tflite_converter import dequantize_weight

    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    graph = model.subgraphs[0]
    for index in weights:
        tensor = graph.tensors[index]
        buffer = model.buffers[tensor.buffer]
        quant = tensor.quantization
        raw = np.frombuffer(bytes(bytearray(buffer.data)),
                            dtype=np.int8 if tensor.type == schema.TensorType.INT8 else np.uint8)
        values = dequantize_weight(raw, list(tensor.shape), quant.scale, quant.zeroPoint,
                                   quant.quantizedDimension)
        buffer.data = np.frombuffer(values.tobytes(), np.uint8)
        tensor.type = schema.TensorType.FLOAT32
        tensor.quantization = None
    builder = flatbuffers.Builder(len(data) * 4)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
