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
          tuning_logs: str | Path | None = None, measure_memory: bool = True,
          threads: int | None = None, name: str | None = None) -> BenchResult:
    import edgec
    from edgec.reference import OrtReference
    from edgec.runtime.threads import configure_threads

    _check_runs_here(target)
    default = edgec.compile(model, target, input_shapes=input_shapes, tuning_logs=False)
    tuned = edgec.compile(model, target, input_shapes=input_shapes,
                          tuning_logs=tuning_logs if tuning_logs else True)
    tuned_kernels = tuned.report.rewrites.get("tuned kernel", 0)
    engines = {"default": default}
    if tuned_kernels:
        engines["tuned"] = tuned
    threads = configure_threads(threads)
    reference = OrtReference(model, threads=threads)
    inputs = random_inputs(default.signature)
    best = {name: float("inf") for name in (*engines, "ort")}
    for _ in range(rounds):
        for engine, artifact in engines.items():
            best[engine] = min(best[engine], artifact.benchmark(inputs, repeat).mean_ms)
        best["ort"] = min(best["ort"], reference.benchmark(inputs, repeat).mean_ms)
    want = reference.run(inputs)
    got = (engines.get("tuned") or default).run(inputs)
    error = max(float(np.max(np.abs(got[k] - want[k]))) for k in want)
    peaks = _peaks(engines.get("tuned") or default, model, inputs, threads) \
        if measure_memory else (None, None)
    return BenchResult(model=name or default.manifest.model["name"], board=default.board, threads=threads,
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


def _check_runs_here(target: str) -> None:
    import platform

    from edgec.errors import OptionError
    from edgec.targets import resolve_target

    board = resolve_target(target).board
    if board.kind != "cpu" or board.arch != platform.machine():
        raise OptionError(
            f"--target {target}: bench times edgec and ONNX Runtime on this machine "
            f"({platform.machine()}), and '{board.name}' is a {board.arch} {board.kind} board; "
            "bench on the board itself, or time the artifact there with `edgec run --device`")


HEADER = ("model", "ORT ms", "default ms", "tuned ms", "default/ORT", "tuned/ORT", "tuned",
          "threads", "ORT peak", "edgec peak", "max |err|")


def table(results: list[BenchResult]) -> str:
    """One aligned text table of bench results (and the median ratios below it)."""
    from edgec.interface.compile_report import format_size

    def size(n):
        return format_size(n) if n is not None else "-"

    rows = [HEADER]
    for r in results:
        rows.append((r.model, f"{r.ort_ms:.3f}", f"{r.default_ms:.3f}",
                     f"{r.tuned_ms:.3f}" if r.tuned_ms is not None else "-",
                     f"{r.default_ratio:.2f}",
                     f"{r.tuned_ratio:.2f}" if r.tuned_ratio is not None else "-",
                     f"{r.tuned_kernels}/{r.kernels}", str(r.threads), size(r.ort_peak_bytes),
                     size(r.edgec_peak_bytes), f"{r.max_abs_error:.1e}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if len(results) > 1:
        best = [r.tuned_ratio if r.tuned_ratio is not None else r.default_ratio for r in results]
        lines.append(f"median ratio: default {float(np.median([r.default_ratio for r in results])):.2f}"
                     f", best available (tuned where records exist) {float(np.median(best)):.2f}")
    return "\n".join(lines)
