"""Cross-compilation for ARM boards with the board's own toolchain."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

import edgec
from edgec.errors import TargetError, ToolchainError
from tests.conftest import DIGITS_MODEL

EM_ARM, EM_AARCH64 = 40, 183
EF_ARM_ABI_FLOAT_HARD = 0x400


def _elf(library: bytes) -> tuple[int, int, int]:
    """(ELF class, machine, flags) of a shared library."""
    assert library[:4] == b"\x7fELF"
    elf_class = library[4]
    machine = struct.unpack_from("<H", library, 18)[0]
    flags = struct.unpack_from("<I", library, 36 if elf_class == 1 else 48)[0]
    return elf_class, machine, flags


def _digits(target):
    return edgec.compile(DIGITS_MODEL, target, input_shapes={"input": (1, 1, 8, 8)})


def test_rasp4b_library_is_aarch64():
    artifact = _digits("rasp4b")
    elf_class, machine, _ = _elf(artifact.library)
    assert (elf_class, machine) == (2, EM_AARCH64)
    assert artifact.manifest.board == {"name": "rasp4b", "arch": "aarch64", "kind": "cpu",
                                       "description": artifact.manifest.board["description"]}
    assert artifact.manifest.target["mtriple"] == "aarch64-linux-gnu"


@pytest.mark.parametrize("board", ["rasp4b-32", "rasp3b", "arm/rasp4b"])
def test_armv7_library_is_32_bit_hard_float(board):
    elf_class, machine, flags = _elf(_digits(board).library)
    assert (elf_class, machine) == (1, EM_ARM)
    assert flags & EF_ARM_ABI_FLOAT_HARD


def test_missing_cross_toolchain_names_the_package(monkeypatch, tmp_path):
    # A PATH with everything but the cross compiler.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("g++", "gcc", "ld", "as"):
        real = next((os.path.join(d, tool) for d in os.environ["PATH"].split(os.pathsep)
                     if os.path.exists(os.path.join(d, tool))), None)
        if real:
            (bin_dir / tool).symlink_to(real)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(ToolchainError, match=r"links with 'aarch64-linux-gnu-g\+\+', which is "
                                             r"not installed.*apt-get install "
                                             r"g\+\+-aarch64-linux-gnu"):
        _digits("rasp4b")


def test_arm_artifact_refuses_to_run_here(tmp_path):
    path = _digits("rasp4b").save(tmp_path / "pi.edgec.tar")
    with pytest.raises(TargetError, match=r"built for board 'rasp4b' \(aarch64\); this machine "
                                          r"is x86_64"):
        edgec.load(path).run({"input": np.zeros((1, 1, 8, 8), np.float32)})
