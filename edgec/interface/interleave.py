"""Timing engines against each other on a machine whose speed drifts.

Shared virtual machines change speed by up to 2x from one minute to the next. An engine timed
in a few long rounds, or represented by its best round, is compared with another engine timed
in other minutes: the ratio says more about the minutes than about the engines. Here:

- every engine runs many short **blocks** (about ``block_seconds`` of back-to-back runs each),
  one engine after the other within a **round**, the order rotating from round to round so
  that no engine always follows the same one;
- an engine's latency is the median over rounds of its block means;
- the ratio of two engines is the **median of their per-round ratios** (blocks adjacent in
  time, so both saw the same minute), printed with its spread: the interquartile range of the
  per-round ratios (``1.24 [1.18-1.31]``), and how many rounds.

An engine runs in this process, or in a process of its own (``own_process``: a worker that
loads the model once and answers "run N" requests, so that engines share no thread pool,
allocator or caches; only one engine runs at any time either way).
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

Block = Callable[[int], float]   # run n times back to back; return the mean seconds per run


@dataclasses.dataclass(frozen=True)
class Ratio:
    """The median of per-round ratios ``a / b`` with its interquartile range."""

    median: float
    low: float      # 25th percentile
    high: float     # 75th percentile
    rounds: int

    def describe(self) -> str:
        return f"{self.median:.2f} [{self.low:.2f}-{self.high:.2f}]"


@dataclasses.dataclass
class Timings:
    """Per-round block means (seconds per run) of each engine, in round order."""

    blocks: dict[str, list[float]]
    runs_per_block: dict[str, int]

    def median_ms(self, engine: str) -> float:
        return float(np.median(self.blocks[engine])) * 1e3

    def ratio(self, engine: str, reference: str) -> Ratio:
        return paired_ratio(self.blocks[engine], self.blocks[reference])


def paired_ratio(a: list[float], b: list[float]) -> Ratio:
    """Median and interquartile range of ``a[r] / b[r]`` over rounds ``r``."""
    ratios = np.asarray(a, dtype=np.float64) / np.asarray(b, dtype=np.float64)
    low, median, high = np.percentile(ratios, [25, 50, 75])
    return Ratio(float(median), float(low), float(high), len(ratios))


def interleave(engines: Mapping[str, Block], rounds: int = 30, block_seconds: float = 0.2,
               min_runs: int = 1) -> Timings:
    """Time ``engines`` in ``rounds`` interleaved rounds of one block each.

    Each engine's block size (runs) is fixed once, from a calibration block after a warm-up,
    so that a block lasts about ``block_seconds`` (at least ``min_runs`` runs)."""
    names = list(engines)
    runs: dict[str, int] = {}
    for name in names:
        engines[name](1)  # warm-up: first-run costs (allocation, page faults, thread start)
        per_run = engines[name](max(1, min_runs))
        runs[name] = max(min_runs, 1, math.ceil(block_seconds / max(per_run, 1e-9)))
    blocks: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            blocks[name].append(engines[name](runs[name]))
    return Timings(blocks=blocks, runs_per_block=runs)


# -- engines ---------------------------------------------------------------------------------

def artifact_block(artifact, inputs) -> Block:
    """An artifact run in this process (TVM's time evaluator, inputs bound once)."""
    return lambda n: artifact.benchmark(inputs, n).mean_ms / 1e3


def ort_block(reference, inputs) -> Block:
    """ONNX Runtime in this process (I/O binding, inputs bound once)."""
    return lambda n: reference.benchmark(inputs, n).mean_ms / 1e3


class OwnProcess:
    """An engine in a worker process of its own: ``python -m edgec.interface.interleave
    {edgec ARTIFACT | onnxruntime MODEL} INPUTS.npz THREADS``. Call it like a block."""

    def __init__(self, engine: str, path: str | Path, inputs: Mapping[str, np.ndarray],
                 threads: int):
        from edgec.runtime.inputs import save_npz

        self._tmp = tempfile.TemporaryDirectory(prefix="edgec-bench-")
        inputs_path = Path(self._tmp.name) / "inputs.npz"
        save_npz(inputs_path, dict(inputs))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgec.interface.interleave", engine, str(path),
             str(inputs_path), str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self._ask("ready")

    def _ask(self, line: str) -> str:
        from edgec.errors import InternalError

        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise InternalError(f"the benchmark worker for {line!r} exited "
                                f"({self.proc.wait()})")
        return answer.strip()

    def __call__(self, n: int) -> float:
        return float(self._ask(f"run {n}"))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        self._tmp.cleanup()


def _worker(engine: str, path: str, inputs_path: str, threads: int) -> None:
    """The loop an :class:`OwnProcess` talks to: load once, then time blocks on request."""
    import os

    inputs = dict(np.load(inputs_path))
    if engine == "edgec":
        os.environ["TVM_NUM_THREADS"] = str(threads)
        import edgec

        block = artifact_block(edgec.load(path).session(threads), inputs)
    else:
        from edgec.reference import OrtReference

        block = ort_block(OrtReference(path, threads=threads), inputs)
    for line in sys.stdin:
        command = line.split()
        if command == ["ready"]:
            answer = "ok"
        elif len(command) == 2 and command[0] == "run":
            answer = repr(block(int(command[1])))
        else:
            answer = json.dumps({"error": line.strip()})
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
