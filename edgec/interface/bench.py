"""``edgec bench``: one model, edgec against ONNX Runtime on the same inputs and threads.

Latency: the engines (ONNX Runtime, edgec with default schedules, edgec tuned when records
match) run in many short interleaved blocks (``interleave.py``): each engine's latency is the
median of its block means, and each ratio to ONNX Runtime the median of per-round ratios, with
its interquartile range, so that a machine whose speed drifts from minute to minute does not
decide the comparison. By default every engine runs in a worker process of its own
(``own_process``): beside TVM's thread pool in one process, ONNX Runtime ran the digits CNN
about 15% slower than alone (``tests/interface/test_interleave.py`` measures both ways).
ONNX Runtime runs with ``intra_op_num_threads`` equal to edgec's thread count. Peak memory:
each engine runs once in a fresh process (``memory_probe``). "default" is the artifact
compiled without tuning records; "tuned" uses the board's records in ``tuning_logs/`` (or the
given directory) when any match the model's kernels.
"""

from __future__ import annotations

import contextlib
import dataclasses
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgec.interface.interleave import Ratio, interleave
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
    default_vs_ort: Ratio | None = None
    tuned_vs_ort: Ratio | None = None
    rounds: int = 0
    own_process: bool = False

    @property
    def default_ratio(self) -> float:
        return self.default_vs_ort.median if self.default_vs_ort else \
            self.default_ms / self.ort_ms

    @property
    def tuned_ratio(self) -> float | None:
        if self.tuned_ms is None:
            return None
        return self.tuned_vs_ort.median if self.tuned_vs_ort else self.tuned_ms / self.ort_ms


def bench(model, target: str = "host", *, input_shapes=None, rounds: int = 30,
          block_seconds: float = 0.2, min_runs: int = 1, own_process: bool = True,
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
    artifacts = {"default": default}
    if tuned_kernels:
        artifacts["tuned"] = tuned
    threads = configure_threads(threads)
    reference = OrtReference(model, threads=threads)
    inputs = random_inputs(default.signature)
    want = reference.run(inputs)
    got = (artifacts.get("tuned") or default).run(inputs)
    error = max(float(np.max(np.abs(got[k] - want[k]))) for k in want)
    with _engines(artifacts, reference, model, inputs, threads, own_process) as engines:
        timings = interleave(engines, rounds=rounds, block_seconds=block_seconds,
                             min_runs=min_runs)
    peaks = _peaks(artifacts.get("tuned") or default, model, inputs, threads) \
        if measure_memory else (None, None)
    return BenchResult(
        model=name or default.manifest.model["name"], board=default.board, threads=threads,
        ort_ms=timings.median_ms("ort"), default_ms=timings.median_ms("default"),
        tuned_ms=timings.median_ms("tuned") if "tuned" in artifacts else None,
        tuned_kernels=tuned_kernels, kernels=default.report.after.kernels,
        ort_peak_bytes=peaks[1], edgec_peak_bytes=peaks[0], max_abs_error=error,
        default_vs_ort=timings.ratio("default", "ort"),
        tuned_vs_ort=timings.ratio("tuned", "ort") if "tuned" in artifacts else None,
        rounds=rounds, own_process=own_process)


@contextlib.contextmanager
def _engines(artifacts, reference, model, inputs, threads, own_process):
    """name -> block function, in this process or each in a worker process of its own."""
    from edgec.interface.interleave import OwnProcess, artifact_block, ort_block

    if not own_process:
        yield {"ort": ort_block(reference, inputs),
               **{k: artifact_block(a, inputs) for k, a in artifacts.items()}}
        return
    if isinstance(model, (bytes, bytearray)):
        from edgec.errors import OptionError

        raise OptionError("own-process timing needs the model as a file path")
    workers = {}
    with tempfile.TemporaryDirectory(prefix="edgec-bench-") as tmp:
        try:
            workers["ort"] = OwnProcess("onnxruntime", model, inputs, threads)
            for key, artifact in artifacts.items():
                workers[key] = OwnProcess("edgec", artifact.save(Path(tmp) / f"{key}.tar"),
                                          inputs, threads)
            yield workers
        finally:
            for worker in workers.values():
                worker.close()


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


HEADER = ("model", "ORT ms", "default ms", "tuned ms", "default/ORT [IQR]", "tuned/ORT [IQR]",
          "tuned", "threads", "ORT peak", "edgec peak", "max |err|")


def table(results: list[BenchResult]) -> str:
    """One aligned text table of bench results (and the median ratios below it)."""
    from edgec.interface.compile_report import format_size

    def size(n):
        return format_size(n) if n is not None else "-"

    def ratio(r: Ratio | None, plain: float | None) -> str:
        if r is not None:
            return r.describe()
        return f"{plain:.2f}" if plain is not None else "-"

    rows = [HEADER]
    for r in results:
        rows.append((r.model, f"{r.ort_ms:.3f}", f"{r.default_ms:.3f}",
                     f"{r.tuned_ms:.3f}" if r.tuned_ms is not None else "-",
                     ratio(r.default_vs_ort, r.default_ratio),
                     ratio(r.tuned_vs_ort, r.tuned_ratio),
                     f"{r.tuned_kernels}/{r.kernels}", str(r.threads), size(r.ort_peak_bytes),
                     size(r.edgec_peak_bytes), f"{r.max_abs_error:.1e}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if results:
        r = results[0]
        lines.append(f"latency: median of {r.rounds} interleaved blocks per engine; ratios: "
                     "median of per-round ratios [interquartile range]"
                     + ("; each engine in its own process" if r.own_process else
                        "; engines in one process"))
    if len(results) > 1:
        best = [r.tuned_ratio if r.tuned_ratio is not None else r.default_ratio for r in results]
        lines.append(f"median ratio: default {float(np.median([r.default_ratio for r in results])):.2f}"
                     f", best available (tuned where records exist) {float(np.median(best)):.2f}")
    return "\n".join(lines)
