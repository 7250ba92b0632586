"""Emulated Raspberry Pi 4 (qemu user mode + Debian arm64 userland + TVM's aarch64 wheels)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import edgec
from edgec.device.emulator import run_edgec
from edgec.device.runners import DeviceSpec, run_on
from edgec.errors import EdgecError, TargetError
from edgec.runtime.inputs import random_inputs
from edgec.targets import get_board
from tests.conftest import run_cli
from tests.device.conftest import edgec_process, free_port


def test_provisioned_32bit_userland_has_a_cross_built_runtime(emulated_board):
    from edgec.device.emulator import emulator_env

    board, _ = emulated_board
    env = emulator_env(get_board(board))
    stamp = json.loads(env.stamp.read_text())
    if stamp["python_runtime"] == "source":
        assert "apache-tvm 0.27.0.post1 runtime (cross-compiled)" in stamp["python_packages"]
        core = list((env.site_packages / "tvm_ffi").glob("core.cpython-311-arm-linux-gnueabihf.so"))
        assert core and core[0].read_bytes()[:4] == b"\x7fELF" and core[0].read_bytes()[4] == 1


def test_provisioned_userland(rasp4b_emulator):
    stamp = json.loads(rasp4b_emulator.stamp.read_text())
    assert stamp["debian_arch"] == "arm64" and "python3.11-minimal" in stamp["debian_packages"]
    assert any(p.startswith("apache_tvm-") for p in stamp["python_packages"])
    # The compiler library is not shipped to the device, only the runtime.
    lib = rasp4b_emulator.site_packages / "tvm" / "lib"
    assert (lib / "libtvm_runtime.so").is_file() and not (lib / "libtvm_compiler.so").exists()


def test_edgec_runs_inside_the_emulator(rasp4b_emulator):
    result = run_edgec(get_board("rasp4b"), ["--version"])
    assert result.returncode == 0 and result.stdout.startswith("edgec ")
    probe = run_edgec(get_board("rasp4b"), ["targets"])
    assert probe.returncode == 0


def test_emulated_run_matches_onnxruntime(emulated_board, digits_model):
    board, artifact = emulated_board
    result = run_cli("run", artifact, "--device", "emulate", "--check", digits_model,
                     "--rtol", "0", "--repeat", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    qemu = {"rasp4b": "qemu-aarch64 -cpu cortex-a72", "rasp4b-32": "qemu-arm -cpu max"}[board]
    assert f"device     emulated {board} (qemu {qemu})" in result.stdout
    assert "latency    edgec (emulated)" in result.stdout
    assert "emulated timing" in result.stdout
    assert "result     PASS" in result.stdout


def test_emulated_run_through_api_gives_same_outputs_as_host(rasp4b_emulator, digits_rasp4b,
                                                             digits_artifact_path):
    pi = edgec.load(digits_rasp4b)
    inputs = random_inputs(pi.signature, seed=3)
    emulated = run_on(DeviceSpec.parse("emulate"), pi, inputs, repeat=0)
    assert emulated.emulated and emulated.latency is None
    host = edgec.load(digits_artifact_path).run(inputs)
    np.testing.assert_allclose(emulated.outputs["logits"], host["logits"], atol=1e-5, rtol=0)


def test_errors_inside_the_emulator_come_back_as_one_message(rasp4b_emulator, digits_rasp4b,
                                                             tmp_path):
    np.savez(tmp_path / "bad.npz", input=np.zeros((1, 1, 8, 8), np.float64))
    result = run_cli("run", digits_rasp4b, "--device", "emulate", "--inputs",
                     tmp_path / "bad.npz")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "has dtype float64; the model takes float32" in result.stderr


def test_emulated_rpc_server(emulated_board, digits_model):
    board, artifact = emulated_board
    port = free_port()
    with edgec_process(["emulator", "exec", board, "serve", "--port", str(port)],
                       "listening on 127.0.0.1"):
        result = run_cli("run", artifact, "--device", f"rpc://127.0.0.1:{port}",
                         "--check", digits_model, "--rtol", "0", "--repeat", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    arch = {"rasp4b": "aarch64", "rasp4b-32": "armv7l"}[board]
    assert f"rpc://127.0.0.1:{port} ({arch}, emulated)" in result.stdout
    assert "result     PASS" in result.stdout


def test_boards_without_emulator():
    with pytest.raises(TargetError, match="board 'host' has no emulator"):
        from edgec.device.emulator import emulator_env

        emulator_env(get_board("host"))
    result = run_cli("emulator", "exec", "cortex-m4", "--", "--version")
    assert result.returncode == 2 and "is a microcontroller" in result.stderr


def test_unprovisioned_board_says_how_to_set_it_up(monkeypatch, tmp_path, digits_rasp4b):
    monkeypatch.setenv("EDGEC_CACHE_DIR", str(tmp_path / "empty-cache"))
    with pytest.raises(EdgecError, match="run: edgec emulator setup rasp4b"):
        run_on(DeviceSpec.parse("emulate"), edgec.load(digits_rasp4b),
               random_inputs(edgec.load(digits_rasp4b).signature))
