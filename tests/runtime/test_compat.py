"""An artifact built for another board or CPU is refused before its library is opened."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import edgec
from edgec.artifact.package import read_artifact, write_artifact
from edgec.errors import TargetError
from edgec.runtime.cpu_features import ISA_FEATURES, _cpuinfo_flags


def test_artifact_for_another_architecture(digits_artifact_path, tmp_path):
    manifest, files = read_artifact(digits_artifact_path)
    foreign = dataclasses.replace(manifest, board={**manifest.board, "name": "rasp4b",
                                                   "arch": "aarch64"})
    path = tmp_path / "rasp4b.edgec.tar"
    write_artifact(path, foreign, files)
    artifact = edgec.load(path)  # a valid artifact, for another machine
    with pytest.raises(TargetError, match=r"was built for board 'rasp4b' \(aarch64\); this "
                                          r"machine is x86_64, so it cannot run here"):
        artifact.run({"input": np.zeros((1, 1, 8, 8), np.float32)})


def _missing_x86_feature() -> str | None:
    flags = _cpuinfo_flags("x86_64") or frozenset()
    for llvm_name in ("avx512vp2intersect", "amx-tile", "avx512fp16", "avxvnni", "avx512bf16"):
        if ISA_FEATURES["x86_64"][llvm_name] not in flags:
            return llvm_name
    return None


def test_artifact_needing_cpu_features_this_cpu_lacks(digits_model, tmp_path):
    feature = _missing_x86_feature()
    if feature is None:
        pytest.skip("this CPU has every feature the test could ask for")
    target = ('{"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": "x86-64-v3", '
              f'"mattr": ["+{feature}"]}}')
    artifact = edgec.compile(digits_model, target, input_shapes={"input": (1, 1, 8, 8)})
    assert feature in artifact.manifest.cpu_features
    path = artifact.save(tmp_path / "other_cpu.edgec.tar")
    # the list also names what the feature implies (avx512f for avx512vp2intersect) where
    # this CPU lacks that too
    with pytest.raises(TargetError, match=rf"uses ([a-z0-9_.-]+, )*{feature}(, [a-z0-9_.-]+)*, "
                                          "which this machine's CPU lacks; "
                                          "recompile it here with --target host"):
        edgec.load(path).run({"input": np.zeros((1, 1, 8, 8), np.float32)})
