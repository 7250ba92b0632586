"""Real devices on loopback: RPC servers, a tracker, emulated boards under qemu."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time

import pytest

import edgec
from tests.conftest import DIGITS_MODEL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def edgec_process(args: list[str], ready: str, timeout: float = 120):
    """Start ``edgec ARGS`` (e.g. serve) and wait until its output contains ``ready``."""
    process = subprocess.Popen([sys.executable, "-m", "edgec", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []

    def pump():
        for line in process.stdout:
            lines.append(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    deadline = time.time() + timeout
    while not any(ready in line for line in lines):
        if process.poll() is not None or time.time() > deadline:
            process.kill()
            raise RuntimeError(f"edgec {' '.join(args)} did not start: {''.join(lines)}")
        time.sleep(0.2)
    try:
        yield process, lines
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def rasp4b_emulator():
    """The emulated Raspberry Pi 4 userland (provisioned once, cached across runs)."""
    from edgec.device.emulator import provision
    from edgec.targets import get_board

    return provision(get_board("rasp4b"))


@pytest.fixture(scope="session", params=["rasp4b", "rasp4b-32"])
def emulated_board(request, tmp_path_factory):
    """(board name, digits artifact for it) for a 64-bit and a 32-bit emulated board."""
    from edgec.device.emulator import provision
    from edgec.targets import get_board

    provision(get_board(request.param))
    path = tmp_path_factory.mktemp(request.param) / "digits.edgec.tar"
    edgec.compile(DIGITS_MODEL, request.param, input_shapes={"input": (1, 1, 8, 8)}).save(path)
    return request.param, path


@pytest.fixture(scope="session")
def digits_rasp4b(tmp_path_factory):
    path = tmp_path_factory.mktemp("rasp4b") / "digits.rasp4b.edgec.tar"
    edgec.compile(DIGITS_MODEL, "rasp4b", input_shapes={"input": (1, 1, 8, 8)}).save(path)
    return path
