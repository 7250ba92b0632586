"""ONNX Runtime as the numeric reference: run the original model on the same inputs."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from edgec.errors import EdgecError, ModelError
from edgec.runtime.timing import LatencyStats


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError as err:
        raise EdgecError("comparing with ONNX Runtime needs the onnxruntime package; install it "
                         "with: pip install 'edgec[check]' (or pip install onnxruntime)") from err
    return onnxruntime


# ONNX Runtime's Python API returns float8 tensors as their uint8 bit patterns (those it can
# return at all) and takes none of these types as inputs: numpy's (ml_dtypes) names for them.
_STORED_AS_BYTES = {
    "tensor(float8e4m3fn)": "float8_e4m3fn", "tensor(float8e4m3fnuz)": "float8_e4m3fnuz",
    "tensor(float8e5m2)": "float8_e5m2", "tensor(float8e5m2fnuz)": "float8_e5m2fnuz",
    "tensor(float4e2m1)": "float4_e2m1fn", "tensor(int4)": "int4", "tensor(uint4)": "uint4",
    "tensor(int2)": "int2", "tensor(uint2)": "uint2",
}


def from_ort_bytes(dtype: str, value: np.ndarray) -> np.ndarray:
    """A float8 output ONNX Runtime returned as its uint8 bit patterns, as ``dtype``."""
    from edgec.signature import numpy_dtype

    value = np.asarray(value)
    return value.view(numpy_dtype(dtype)) if value.dtype == np.uint8 else value


def model_sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class OrtReference:
    """An ONNX Runtime CPU session for one model file."""

    name = "ONNX Runtime"

    def __init__(self, model: str | os.PathLike | bytes, threads: int | None = None):
        ort = _onnxruntime()
        options = ort.SessionOptions()
        self.threads = threads
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        source = model if isinstance(model, bytes) else str(model)
        if not isinstance(model, bytes) and not Path(model).is_file():
            raise ModelError(f"reference model '{model}' does not exist")
        try:
            self._session = ort.InferenceSession(source, options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception classes
            raise ModelError(f"ONNX Runtime cannot load reference model '{model}': "
                             f"{str(err).strip().splitlines()[0]}") from err
        self.input_names = [i.name for i in self._session.get_inputs()]
        self.output_names = [o.name for o in self._session.get_outputs()]
        self._output_types = {o.name: o.type for o in self._session.get_outputs()}
        self._narrow_inputs = [f"{i.name} ({i.type})" for i in self._session.get_inputs()
                               if i.type in _STORED_AS_BYTES]

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = {name: inputs[name] for name in self.input_names if name in inputs}
        missing = [n for n in self.input_names if n not in inputs]
        if missing:
            raise ModelError(f"the reference model takes input(s) {', '.join(missing)} that the "
                             "artifact does not; --check needs the model it was compiled from")
        if self._narrow_inputs:
            raise ModelError(f"ONNX Runtime's Python API cannot take the input(s) "
                             f"{', '.join(self._narrow_inputs)}; this model cannot be checked "
                             "against it")
        try:
            values = self._session.run(None, feeds)
        except Exception as err:  # noqa: BLE001 - onnxruntime raises its own exception classes
            raise ModelError(f"ONNX Runtime could not run the reference model: "
                             f"{str(err).strip().splitlines()[0]}") from err
        return {name: from_ort_bytes(_STORED_AS_BYTES[self._output_types[name]], value)
                if self._output_types[name] in _STORED_AS_BYTES else value
                for name, value in zip(self.output_names, values)}

    def benchmark(self, inputs: Mapping[str, np.ndarray], repeat: int) -> LatencyStats:
        """Time ``repeat`` runs after one warm-up, like the artifact's benchmark: inputs bound
        once (I/O binding, ONNX Runtime's lowest-overhead call), outputs allocated per run as
        the artifact's are, so neither engine is timed converting arrays."""
        import time

        binding = self._session.io_binding()
        for name in self.input_names:
            value = np.asarray(inputs[name])  # (ascontiguousarray would make 0-d arrays 1-d)
            binding.bind_cpu_input(name, value if value.flags.c_contiguous else value.copy())
        for name in self.output_names:
            binding.bind_output(name)
        self._session.run_with_iobinding(binding)
        samples = []
        for _ in range(max(1, repeat)):
            start = time.perf_counter()
            self._session.run_with_iobinding(binding)
            samples.append(time.perf_counter() - start)
        return LatencyStats.from_seconds(samples)
