"""int8 kernels are integer arithmetic: an ARM build (NHWC layout, convs on sdot for the Pi 5 and
NEON smull for the Pi 4) run under qemu gives the x86 build's outputs bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import edgec

INPUT = {"x": np.random.default_rng(3).standard_normal((1, 3, 16, 16)).astype(np.float32)}


@pytest.fixture(scope="module")
def host_output(ort_quantized):
    return edgec.compile(ort_quantized("qdq", "int8"), "host", tuning_logs=False).run(INPUT)["y"]


@pytest.mark.parametrize(("board", "isa", "mnemonic"),
                         [("rasp4b", "neon", "smull"), ("rasp5", "sdot", "sdot")])
def test_arm_int8_matches_host_exactly(ort_quantized, host_output, tmp_path, board, isa,
                                       mnemonic):
    from edgec.device.emulator import provision
    from edgec.targets import get_board

    provision(get_board(board))
    artifact = edgec.compile(ort_quantized("qdq", "int8"), board, tuning_logs=False)
    assert artifact.report.rewrites.get("int8 conv2d") == 3
    # every conv on the board's dot-product instruction, and the instruction in the library
    instructions = artifact.report.quantization["instructions"]
    assert (instructions["isa"], instructions["kernels"]) == (isa, 4)  # 3 convs + the matmul
    assert instructions["found"][mnemonic] > 0
    artifact.save(tmp_path / f"{board}.edgec.tar")
    output = edgec.load(tmp_path / f"{board}.edgec.tar").run(INPUT, device="emulate")["y"]
    np.testing.assert_array_equal(output, host_output)
