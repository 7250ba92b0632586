"""The artifact file: one uncompressed tar holding ``manifest.json`` and the files it hashes.

Writing is atomic (a temporary file in the same directory, fsync, rename): an interrupted save
never leaves a half-written artifact under the final name. Reading verifies the tar, refuses any
member the manifest does not list or that is not a plain file, and checks the size and sha256 of
every file before anything is handed on; nothing is ever extracted to disk here.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import tempfile
from pathlib import Path

from edgec.artifact.manifest import FileEntry, Manifest
from edgec.errors import ArtifactError, ArtifactIntegrityError

MANIFEST_NAME = "manifest.json"
_MAX_MEMBER_BYTES = 4 << 30


def file_entry(data: bytes) -> FileEntry:
    return FileEntry(sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def write_artifact(path: Path, manifest: Manifest, files: dict[str, bytes]) -> None:
    """Write ``manifest`` and ``files`` to ``path`` atomically."""
    path = Path(path)
    if path.is_dir():
        raise ArtifactError(f"output path '{path}' is a directory; give a file name such as "
                            f"{path / 'model.edgec.tar'}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ArtifactError(f"cannot write '{path}': directory '{parent}' does not exist")
    members = {MANIFEST_NAME: manifest.dumps(), **files}
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            with tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for name, data in members.items():
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    info.mode = 0o644
                    info.mtime = 0  # reproducible: same inputs, same bytes
                    tar.addfile(info, io.BytesIO(data))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise


def read_artifact(path: Path) -> tuple[Manifest, dict[str, bytes]]:
    """Read and verify an artifact; every file's hash is checked before returning."""
    path = Path(path)
    origin = str(path)
    if not path.is_file():
        raise ArtifactError(f"artifact '{origin}' does not exist" if not path.exists()
                            else f"artifact '{origin}' is not a file")
    members = _read_members(path, origin)
    if MANIFEST_NAME not in members:
        raise ArtifactError(f"'{origin}' is not an edgec artifact (no {MANIFEST_NAME} inside)")
    manifest = Manifest.loads(members.pop(MANIFEST_NAME), origin)
    unlisted = sorted(set(members) - set(manifest.files))
    if unlisted:
        raise ArtifactIntegrityError(
            f"artifact '{origin}' contains file(s) its manifest does not list: "
            f"{', '.join(unlisted)}; it has been modified, refusing to load it")
    for name, entry in manifest.files.items():
        if name not in members:
            raise ArtifactIntegrityError(
                f"artifact '{origin}' is missing '{name}', listed in its manifest; refusing to "
                "load it")
        actual = file_entry(members[name])
        if actual.sha256 != entry.sha256 or actual.size != entry.size:
            raise ArtifactIntegrityError(
                f"artifact '{origin}': '{name}' does not match its manifest (sha256 "
                f"{actual.sha256[:16]}... != {entry.sha256[:16]}...); the artifact is corrupt or "
                "was tampered with, refusing to load it. Recompile the model")
    return manifest, members


def _read_members(path: Path, origin: str) -> dict[str, bytes]:
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(path, mode="r:") as tar:
            for info in tar:
                if not info.isfile() or "/" in info.name or info.name in ("", ".", ".."):
                    raise ArtifactIntegrityError(
                        f"artifact '{origin}' holds an unexpected entry '{info.name}' (only "
                        "plain files at the top level are allowed); refusing to load it")
                if info.size > _MAX_MEMBER_BYTES:
                    raise ArtifactError(f"artifact '{origin}': '{info.name}' is too large")
                if info.name in members:
                    raise ArtifactIntegrityError(
                        f"artifact '{origin}' holds '{info.name}' twice; refusing to load it")
                handle = tar.extractfile(info)
                members[info.name] = handle.read() if handle else b""
    except (tarfile.TarError, EOFError, OSError) as err:
        raise ArtifactError(f"'{origin}' is not a readable edgec artifact (not a tar file, or "
                            f"truncated: {err})") from err
    return members
