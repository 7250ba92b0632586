"""Tuning on a device farm: two emulated Raspberry Pi 4s registered with a tracker on loopback,
one of them dying mid-run. Emulated timings mean nothing; that the run completes, and that its
database compiles into an artifact that runs correctly on the board, is what is checked."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import edgec
from edgec.device.runners import DeviceSpec, run_on
from edgec.reference import OrtReference
from edgec.runtime.inputs import random_inputs
from edgec.tuning.database import RECORDS
from tests.conftest import DIGITS_MODEL
from tests.device.conftest import edgec_process, free_port

pytestmark = pytest.mark.slow


def _kill_tree(pid: int) -> None:
    """kill -9 a process and its descendants (the emulator and its qemu child)."""
    import psutil

    parent = psutil.Process(pid)
    for proc in [*parent.children(recursive=True), parent]:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass


def test_tune_on_two_emulated_boards_one_dies(rasp4b_emulator, tmp_path):
    tracker_port = free_port()
    tracker = f"127.0.0.1:{tracker_port}"
    log_dir = tmp_path / "logs"
    with edgec_process(["tracker", "--port", str(tracker_port)], "listening"), \
            edgec_process(["emulator", "exec", "rasp4b", "serve", "--port", str(free_port()),
                           "--tracker", tracker, "--key", "pi4"], "registered with tracker"), \
            edgec_process(["emulator", "exec", "rasp4b", "serve", "--port", str(free_port()),
                           "--tracker", tracker, "--key", "pi4"],
                          "registered with tracker") as (doomed, _):
        records = log_dir / "rasp4b" / RECORDS
        killer = threading.Thread(target=_kill_after_first_records, args=(records, doomed.pid),
                                  daemon=True)
        killer.start()
        result = subprocess.run(
            [sys.executable, "-m", "edgec", "tune", str(DIGITS_MODEL), "-t", "rasp4b",
             "-s", "input:1,1,8,8", "--trials", "4", "--trials-per-task", "4", "--batch", "4",
             "--log-dir", str(log_dir), "--rpc-tracker", tracker, "--rpc-key", "pi4"],
            capture_output=True, text=True, timeout=1200)
        killer.join(timeout=5)
        assert doomed.poll() is not None, "the second device was never killed"
    assert result.returncode == 0, result.stdout + result.stderr
    kernels = 8  # digits for rasp4b (NHWC): one default schedule each, then 4 searched
    assert f"trials     {kernels + 4} this run" in result.stdout
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    assert len(lines) == kernels + 4
    measured = [line for line in lines if line[1][1][0] < 1e9]
    assert measured, "no schedule was measured on the surviving device"

    artifact = edgec.compile(DIGITS_MODEL, "rasp4b", input_shapes={"input": (1, 1, 8, 8)},
                             tuning_logs=log_dir)
    rewrites = artifact.report.rewrites
    assert rewrites.get("tuned kernel", 0) + rewrites.get("default schedule", 0) == kernels
    inputs = random_inputs(artifact.signature, seed=5)
    emulated = run_on(DeviceSpec.parse("emulate"), artifact, inputs, repeat=0)
    want = OrtReference(DIGITS_MODEL).run(inputs)
    np.testing.assert_allclose(emulated.outputs["logits"], want["logits"], rtol=1e-4,
                               atol=1e-4)


def _kill_after_first_records(records, pid: int) -> None:
    deadline = time.time() + 900
    while time.time() < deadline:
        if records.exists() and records.read_text().count("\n") >= 1:
            _kill_tree(pid)
            return
        time.sleep(0.5)
