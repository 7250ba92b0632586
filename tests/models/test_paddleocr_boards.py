"""PP-OCRv4 det cross-compiled for ARM boards, run on an emulated board (qemu) and through an
RPC server running under emulation, checked against ONNX Runtime on this machine."""

from __future__ import annotations

import pytest

from tests.conftest import PADDLEOCR, run_cli
from tests.device.conftest import edgec_process, free_port

# The 32-bit board (its own cross toolchain and runtime); det on the 64-bit rasp4b runs in
# test_pipeline_on_paddleocr.py, and RPC under 64-bit emulation in tests/device/.
BOARDS = ["rasp4b-32"]


@pytest.fixture(scope="module", params=BOARDS)
def det_for_board(request, paddleocr_models, tmp_path_factory):
    from edgec.device.emulator import provision
    from edgec.targets import get_board

    board = request.param
    provision(get_board(board))
    out = tmp_path_factory.mktemp(board) / "det.edgec.tar"
    shape = ",".join(str(d) for d in PADDLEOCR["det"][1])
    result = run_cli("compile", paddleocr_models["det"], "--target", board, "--input-shape",
                     f"x:{shape}", "-o", out)
    assert result.returncode == 0, result.stderr
    return board, out


@pytest.mark.slow
def test_det_on_emulated_board(det_for_board, paddleocr_models):
    board, artifact = det_for_board
    result = run_cli("run", artifact, "--device", "emulate", "--check", paddleocr_models["det"],
                     "--atol", "1e-4", "--rtol", "0", "--repeat", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"emulated {board}" in result.stdout and "result     PASS" in result.stdout


@pytest.mark.slow
def test_det_through_emulated_rpc_server(det_for_board, paddleocr_models):
    board, artifact = det_for_board
    port = free_port()
    with edgec_process(["emulator", "exec", board, "serve", "--port", str(port)],
                       "listening on 127.0.0.1"):
        result = run_cli("run", artifact, "--device", f"rpc://127.0.0.1:{port}", "--check",
                         paddleocr_models["det"], "--atol", "1e-4", "--rtol", "0", "--repeat",
                         "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "emulated)" in result.stdout and "result     PASS" in result.stdout
