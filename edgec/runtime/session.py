"""A loaded artifact, ready to run: the library opened in the TVM runtime and a Relax VM.

Only TVM's runtime is used here (no compiler), so this works on a device that has
``TVM_USE_RUNTIME_LIB=1`` and nothing but the runtime.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from edgec.artifact.manifest import Manifest
from edgec.errors import InternalError
from edgec.runtime.compat import check_runs_here
from edgec.runtime.inputs import Inputs, normalize_inputs, storage_inputs
from edgec.signature import from_storage
from edgec.runtime.threads import configure_threads
from edgec.runtime.timing import LatencyStats

logger = logging.getLogger(__name__)


class Session:
    """Runs one artifact on this machine's CPU."""

    def __init__(self, manifest: Manifest, library: bytes, origin: str,
                 threads: int | None = None):
        check_runs_here(manifest, origin)
        self.threads = configure_threads(threads)
        import tvm
        from tvm.runtime import vm as tvm_vm

        self.manifest = manifest
        self.origin = origin
        self.device = tvm.cpu(0)
        with tempfile.TemporaryDirectory(prefix="edgec-load-") as tmp:
            path = Path(tmp) / manifest.entry["library"]
            path.write_bytes(library)
            try:
                module = tvm.runtime.load_module(str(path))
            except Exception as err:
                raise InternalError(f"the TVM runtime could not open the library of "
                                    f"'{origin}': {err}") from err
        self._vm = tvm_vm.VirtualMachine(module, self.device)
        self._function = manifest.entry.get("function", "main")

    def _to_device(self, arrays: list[np.ndarray]):
        """Checked inputs (``normalize_inputs``) as TVM tensors in their storage types."""
        import tvm

        return [tvm.runtime.tensor(a, self.device)
                for a in storage_inputs(self.manifest.signature, arrays)]

    def run(self, inputs: Inputs) -> dict[str, np.ndarray]:
        """Run once; returns outputs by name, in signature order."""
        arrays = normalize_inputs(self.manifest.signature, inputs, self.origin)
        result = self._vm[self._function](*self._to_device(arrays))
        return self._outputs(result)

    def _outputs(self, result) -> dict[str, np.ndarray]:
        specs = self.manifest.signature.outputs
        values = [result] if len(specs) == 1 else list(result)
        if len(values) != len(specs):
            raise InternalError(f"'{self.origin}' returned {len(values)} outputs, manifest "
                                f"lists {len(specs)}")
        return {spec.name: from_storage(spec.dtype, value.numpy())
                for spec, value in zip(specs, values)}

    def benchmark(self, inputs: Inputs, repeat: int = 10) -> LatencyStats:
        """Time ``repeat`` runs (after one warm-up) with TVM's time evaluator."""
        arrays = normalize_inputs(self.manifest.signature, inputs, self.origin)
        self._vm.set_input(self._function, *self._to_device(arrays))
        timer = self._vm.time_evaluator("invoke_stateful", self.device, number=1,
                                        repeat=max(1, repeat))
        return LatencyStats.from_seconds(list(timer(self._function).results))
