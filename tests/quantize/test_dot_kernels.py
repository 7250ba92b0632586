"""x86 VNNI kernels: built for an AVX512-VNNI CPU on any machine (the instruction check reads
the library), and on a machine that has VNNI the same integers as the int32 kernels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import edgec
from edgec.errors import InternalError

ZEN4 = json.dumps({"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": "znver4",
                   "num-cores": 2})
INPUT = {"x": np.random.default_rng(5).standard_normal((1, 3, 16, 16)).astype(np.float32)}


def _has_vnni() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_vnni" in flags and "avx512bw" in flags


def test_vnni_build_has_vpdpbusd(ort_quantized):
    artifact = edgec.compile(ort_quantized("qdq", "int8"), ZEN4, tuning_logs=False)
    instructions = artifact.report.quantization["instructions"]
    # 16 and 8 output channels: zmm and ymm vpdpbusd; every conv on it, and the classifier's
    # matmul (a 1x1 conv over its rows)
    assert instructions["isa"] == "vnni+vnni8" and instructions["kernels"] == 4
    assert instructions["found"]["vpdpbusd"] > 0
    assert "ConvertLayout" in artifact.manifest.pipeline["passes"]  # int8 + VNNI: NHWC
    assert any("on vnni+vnni8; vpdpbusd x" in line for line in artifact.report.lines())


@pytest.mark.skipif(not _has_vnni(), reason="this CPU has no AVX512-VNNI to run the kernels")
@pytest.mark.parametrize("activation", ["int8", "uint8"])
def test_vnni_kernels_match_int32_kernels(ort_quantized, activation):
    model = ort_quantized("qdq", activation)
    vnni = edgec.compile(model, "host", tuning_logs=False)
    assert vnni.report.quantization["instructions"]["kernels"] == 4
    plain = edgec.compile(model, "host", tuning_logs=False, disabled_passes=["DotProductConv"])
    np.testing.assert_array_equal(vnni.run(INPUT)["y"], plain.run(INPUT)["y"])


def test_missing_instruction_is_an_error():
    from edgec.build.instructions import check_dot_instructions
    from edgec.targets import get_board

    board = get_board("rasp4b")
    empty = _tiny_aarch64_library(board)
    with pytest.raises(InternalError, match="no sdot instruction"):
        check_dot_instructions(empty, board.toolchain, {"dot-product kernel (sdot)": 2},
                               board.name)
    assert check_dot_instructions(empty, board.toolchain, {"int8 conv2d": 2}, "x") is None


def _tiny_aarch64_library(board) -> bytes:
    import subprocess
    import tempfile

    from edgec.build.codegen import find_compiler

    compiler = find_compiler(board.toolchain, board.name)
    with tempfile.TemporaryDirectory() as tmp:
        src, lib = Path(tmp) / "a.c", Path(tmp) / "a.so"
        src.write_text("int f(int a, int b) { return a * b + 1; }\n")
        subprocess.run([compiler, "-x", "c", "-shared", "-fPIC", "-O2", str(src), "-o", str(lib)],
                       check=True)
        return lib.read_bytes()
