"""int8 kernels are integer arithmetic: an ARM build (NHWC layout, NEON / dotprod targets) run
under qemu gives the x86 build's outputs bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import run_cli


@pytest.mark.parametrize("board", ["rasp4b", "rasp5"])
def test_arm_int8_matches_host_exactly(ort_quantized, tmp_path, board):
    from edgec.device.emulator import provision
    from edgec.targets import get_board

    provision(get_board(board))
    model = ort_quantized("qdq", "int8")
    inputs = tmp_path / "in.npz"
    np.savez(inputs, x=np.random.default_rng(3).standard_normal((1, 3, 16, 16))
             .astype(np.float32))
    outputs = {}
    for name, device in (("host", "local"), (board, "emulate")):
        artifact = tmp_path / f"{name}.edgec.tar"
        result = run_cli("compile", model, "--target", name, "-o", artifact)
        assert result.returncode == 0, result.stderr
        assert "int8 conv2d x3" in result.stdout
        result = run_cli("run", artifact, "--device", device, "-i", inputs, "-o",
                         tmp_path / f"{name}.npz", "-n", "0")
        assert result.returncode == 0, result.stdout + result.stderr
        outputs[name] = np.load(tmp_path / f"{name}.npz")["y"]
    np.testing.assert_array_equal(outputs[board], outputs["host"])
