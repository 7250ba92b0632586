"""The manifest of an artifact: what was compiled, for which board, by what, and file hashes.

It is JSON (``manifest.json`` inside the artifact) so that any tool can read it; ``edgec
inspect`` prints it. ``SCHEMA_VERSION`` changes whenever a field changes meaning.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from edgec.errors import ArtifactError
from edgec.signature import Signature

SCHEMA_VERSION = 1
FORMAT = "edgec-artifact"


@dataclasses.dataclass
class FileEntry:
    sha256: str
    size: int


@dataclasses.dataclass
class Manifest:
    """Everything recorded about one compiled model."""

    model: dict[str, Any]        # name, sha256, producer, opset, source_opset
    board: dict[str, Any]        # name, arch, kind, description
    target: dict[str, Any]       # the full TVM target, as exported by TVM
    cpu_features: list[str]      # ISA extensions the code may use (checked before loading)
    versions: dict[str, str]     # edgec, tvm, tvm_ffi, onnx
    signature: Signature
    entry: dict[str, str]        # library file, function name
    pipeline: dict[str, Any]     # opt_level, passes applied (in order), disabled passes
    stats: dict[str, Any]        # before/after pipeline: ops, kernels, weights, memory
    files: dict[str, FileEntry]
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "schema_version": self.schema_version,
            "model": self.model,
            "board": self.board,
            "target": self.target,
            "cpu_features": list(self.cpu_features),
            "versions": self.versions,
            "signature": self.signature.to_json(),
            "entry": self.entry,
            "pipeline": self.pipeline,
            "stats": self.stats,
            "files": {k: dataclasses.asdict(v) for k, v in sorted(self.files.items())},
        }

    def dumps(self) -> bytes:
        return (json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n").encode("utf-8")

    @classmethod
    def loads(cls, data: bytes, origin: str) -> "Manifest":
        try:
            raw = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ArtifactError(f"artifact '{origin}': manifest.json is not valid JSON "
                                f"({err}); the file is corrupt") from err
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise ArtifactError(f"'{origin}' is not an edgec artifact (manifest format is "
                                f"{raw.get('format') if isinstance(raw, dict) else None!r})")
        version = raw.get("schema_version")
        if version != SCHEMA_VERSION:
            newer = isinstance(version, int) and version > SCHEMA_VERSION
            raise ArtifactError(
                f"artifact '{origin}' has manifest schema {version}; this edgec reads schema "
                f"{SCHEMA_VERSION}. " + ("Upgrade edgec to load it." if newer else
                                         "Recompile the model with this edgec."))
        try:
            return cls(
                model=dict(raw["model"]), board=dict(raw["board"]), target=dict(raw["target"]),
                cpu_features=[str(f) for f in raw["cpu_features"]],
                versions={str(k): str(v) for k, v in raw["versions"].items()},
                signature=Signature.from_json(raw["signature"]), entry=dict(raw["entry"]),
                pipeline=dict(raw["pipeline"]), stats=dict(raw["stats"]),
                files={str(k): FileEntry(sha256=str(v["sha256"]), size=int(v["size"]))
                       for k, v in raw["files"].items()},
                schema_version=version)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ArtifactError(f"artifact '{origin}': manifest.json is missing or has a "
                                f"malformed field ({type(err).__name__}: {err})") from err
