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

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = {name: inputs[name] for name in self.input_names if name in inputs}
        missing = [n for n in self.input_names if n not in inputs]
        if missing:
            raise ModelError(f"the reference model takes input(s) {', '.join(missing)} that the "
                             "artifact does not; --check needs the model it was compiled from")
        values = self._session.run(None, feeds)
        return dict(zip(self.output_names, values))

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
