"""Target strings users bring from tvmc and TVM tags, translated into boards."""

from __future__ import annotations

import pytest

from edgec.errors import TargetError
from edgec.targets import resolve_target
from edgec.targets.tvmc import looks_like_tvmc, translate_tvmc


def test_translate_tvmc_string():
    assert translate_tvmc("llvm -mtriple=aarch64-linux-gnu -mcpu=cortex-a72 "
                          "-mattr=+neon,+dotprod -num-cores=4") == {
        "kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "cortex-a72",
        "mattr": ["+neon", "+dotprod"], "num-cores": 4}
    assert translate_tvmc("llvm --mcpu=skylake") == {"kind": "llvm", "mcpu": "skylake"}
    assert looks_like_tvmc("llvm -mcpu=x") and not looks_like_tvmc("rasp4b")


@pytest.mark.parametrize("bad", ["-mcpu=x", "llvm mcpu=x", "llvm -="])
def test_bad_tvmc_strings(bad):
    with pytest.raises(TargetError):
        translate_tvmc(bad)


def test_tvmc_target_gets_the_generic_aarch64_toolchain():
    resolved = resolve_target("llvm -mtriple=aarch64-linux-gnu -mcpu=cortex-a72 -mattr=+neon")
    assert resolved.board.name == "custom" and resolved.board.arch == "aarch64"
    assert resolved.board.toolchain.compiler == "aarch64-linux-gnu-g++"
    assert resolved.target["mcpu"] == "cortex-a72" and "neon" in resolved.cpu_features


def test_tvm_tags():
    pi = resolve_target("raspberry-pi/4b-aarch64")
    assert pi.board.arch == "aarch64" and pi.target["mcpu"] == "cortex-a72"
    old = resolve_target("arm/rasp4b")  # TVM's 32-bit Raspberry Pi 4 tag
    assert old.board.arch == "armv7l" and old.target["mfloat-abi"] == "hard"
    with pytest.raises(TargetError, match="not a board .* and not a TVM target tag"):
        resolve_target("vendor/no-such-board")


def test_tvmc_cuda_is_not_yet_a_cpu_target():
    with pytest.raises(TargetError, match="kind 'cuda'; edgec builds CPU"):
        resolve_target("cuda -arch=sm_87")


def test_bare_llvm_is_this_machine():
    resolved = resolve_target("llvm")
    assert resolved.board.arch == "x86_64" and resolved.board.toolchain.compiler == "g++"
