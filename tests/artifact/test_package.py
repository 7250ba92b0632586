"""Artifact files: round trip, atomic writes, and refusal of anything modified."""

from __future__ import annotations

import json
import os

import pytest

import edgec
from edgec.artifact.manifest import SCHEMA_VERSION
from edgec.artifact.package import MANIFEST_NAME, read_artifact, write_artifact
from edgec.errors import ArtifactError, ArtifactIntegrityError
from tests.conftest import flip_library_byte, read_members, write_members


def test_round_trip(digits_artifact_path, tmp_path):
    artifact = edgec.load(digits_artifact_path)
    assert artifact.signature.input_names == ["input"]
    copy = artifact.save(tmp_path / "copy.edgec.tar")
    assert copy.read_bytes() == digits_artifact_path.read_bytes()  # reproducible bytes
    manifest = artifact.manifest
    assert manifest.schema_version == SCHEMA_VERSION
    assert manifest.board["name"] == "host"
    assert manifest.versions["tvm"].startswith("0.27")
    assert manifest.model["sha256"] and manifest.files["model.so"].size > 0
    assert manifest.pipeline["passes"][0] == "DecomposeOpsForInference"


def test_tampered_library_is_refused_before_loading(digits_artifact_path, tmp_path):
    bad = flip_library_byte(digits_artifact_path, tmp_path / "tampered.edgec.tar")
    with pytest.raises(ArtifactIntegrityError, match=r"'model\.so' does not match its manifest "
                                                     r"\(sha256 .*tampered with, refusing"):
        edgec.load(bad)


def test_extra_member_is_refused(digits_artifact_path, tmp_path):
    members = read_members(digits_artifact_path)
    members["evil.so"] = b"\x7fELF"
    bad = tmp_path / "extra.edgec.tar"
    write_members(bad, members)
    with pytest.raises(ArtifactIntegrityError, match="its manifest does not list: evil.so"):
        edgec.load(bad)


def test_missing_member_is_refused(digits_artifact_path, tmp_path):
    members = read_members(digits_artifact_path)
    del members["model.so"]
    bad = tmp_path / "missing.edgec.tar"
    write_members(bad, members)
    with pytest.raises(ArtifactIntegrityError, match="missing 'model.so'"):
        edgec.load(bad)


def test_path_traversal_member_is_refused(digits_artifact_path, tmp_path):
    members = read_members(digits_artifact_path)
    members["../escape.so"] = b"x"
    bad = tmp_path / "traversal.edgec.tar"
    write_members(bad, members)
    with pytest.raises(ArtifactIntegrityError, match="unexpected entry '../escape.so'"):
        edgec.load(bad)


def test_newer_schema_asks_for_an_upgrade(digits_artifact_path, tmp_path):
    members = read_members(digits_artifact_path)
    manifest = json.loads(members[MANIFEST_NAME])
    manifest["schema_version"] = SCHEMA_VERSION + 1
    members[MANIFEST_NAME] = json.dumps(manifest).encode()
    bad = tmp_path / "future.edgec.tar"
    write_members(bad, members)
    with pytest.raises(ArtifactError, match="Upgrade edgec"):
        edgec.load(bad)


def test_not_an_artifact(tmp_path, digits_model):
    with pytest.raises(ArtifactError, match="is not a readable edgec artifact"):
        edgec.load(digits_model)
    plain = tmp_path / "plain.tar"
    write_members(plain, {"hello.txt": b"hi"})
    with pytest.raises(ArtifactError, match="not an edgec artifact"):
        edgec.load(plain)
    with pytest.raises(ArtifactError, match="does not exist"):
        edgec.load(tmp_path / "nothing.tar")


def test_truncated_artifact(digits_artifact_path, tmp_path):
    data = digits_artifact_path.read_bytes()
    cut = tmp_path / "cut.edgec.tar"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError):
        edgec.load(cut)


def test_failed_save_leaves_nothing_behind(digits_artifact_path, tmp_path, monkeypatch):
    manifest, files = read_artifact(digits_artifact_path)
    target = tmp_path / "out.edgec.tar"

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", explode)
    with pytest.raises(OSError, match="disk full"):
        write_artifact(target, manifest, files)
    assert list(tmp_path.iterdir()) == []


def test_save_into_missing_directory(digits_artifact_path, tmp_path):
    artifact = edgec.load(digits_artifact_path)
    with pytest.raises(ArtifactError, match="does not exist"):
        artifact.save(tmp_path / "no" / "such" / "dir.tar")
