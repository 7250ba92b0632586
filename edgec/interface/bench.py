"""``edgec bench``: one model, edgec against ONNX Runtime on the same inputs and threads.

Latency: both engines are timed in alternating rounds and each keeps its best round mean, so
that load from other processes on a shared machine hits both alike. Peak memory: each engine
runs once in a fresh process (``memory_probe``). "default" is the artifact compiled without
tuning records; "tuned" uses the board's records in ``tuning_logs/`` (or the given directory)
when any match the model's kernels.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgec.runtime.inputs import random_inputs, save_npz


@dataclasses.dataclass
class BenchResult:
    model: str
    board: str
    threads: int
    ort_ms: float
    default_ms: float
    tuned_ms: float | None
    tuned_kernels: int
    kernels: int
    ort_peak_bytes: int | None
    edgec_peak_bytes: int | None
    max_abs_error: float

    @property
    def default_ratio(self) -> float:
        return self.default_ms / self.ort_ms

    @property
    def tuned_ratio(self) -> float | None:
        return self.tuned_ms / self.ort_ms if self.tuned_ms is not None else None


def bench(model, target: str = "host", *, input_shapes=None, rounds: int = 4, repeat: int = 10,
          tuning_logs: str | Path | None = None, measure_memory: bool = True) -> BenchResult:
    import edgec
    from edgec.reference import OrtReference
    from edgec.runtime.threads import configure_threads

    default = edgec.compile(model, target, input_shapes=input_shapes, tuning_logs=False)
    tuned = edgec.compile(model, target, input_shapes=input_shapes,
                          tuning_logs=tuning_logs if tuning_logs else True)
    tuned_kernels = tuned.report.rewrites.get("tuned kernel", 0)
    engines = {"default": default}
    if tuned_kernels:
        engines["tuned"] = tuned
    threads = configure_threads()
    reference = OrtReference(model, threads=threads)
    inputs = random_inputs(default.signature)
    best = {name: float("inf") for name in (*engines, "ort")}
    for _ in range(rounds):
        for name, artifact in engines.items():
            best[name] = min(best[name], artifact.benchmark(inputs, repeat).mean_ms)
        best["ort"] = min(best["ort"], reference.benchmark(inputs, repeat).mean_ms)
    want = reference.run(inputs)
    got = (engines.get("tuned") or default).run(inputs)
    error = max(float(np.max(np.abs(got[k] - want[k]))) for k in want)
    peaks = _peaks(engines.get("tuned") or default, model, inputs, threads) \
        if measure_memory else (None, None)
    return BenchResult(model=default.manifest.model["name"], board=default.board, threads=threads,
                       ort_ms=best["ort"], default_ms=best["default"],
                       tuned_ms=best.get("tuned"), tuned_kernels=tuned_kernels,
                       kernels=default.report.after.kernels, ort_peak_bytes=peaks[1],
                       edgec_peak_bytes=peaks[0], max_abs_error=error)


def _peaks(artifact, model, inputs, threads) -> tuple[int | None, int | None]:
    with tempfile.TemporaryDirectory(prefix="edgec-bench-") as tmp:
        art_path = artifact.save(Path(tmp) / "model.edgec.tar")
        in_path = Path(tmp) / "inputs.npz"
        save_npz(in_path, inputs)
        model_path = Path(model) if not isinstance(model, (bytes, bytearray)) else None
        results = []
        for engine, path in (("edgec", art_path), ("onnxruntime", model_path)):
            if path is None:
                results.append(None)
                continue
            proc = subprocess.run([sys.executable, "-m", "edgec.interface.memory_probe", engine,
                                   str(path), str(in_path), str(threads)],
                                  capture_output=True, text=True)
            results.append(int(proc.stdout.strip()) if proc.returncode == 0 else None)
        return results[0], results[1]
