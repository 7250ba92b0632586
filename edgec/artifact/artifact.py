"""The deployable artifact as a Python object: manifest, files, and running it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgec.artifact.manifest import Manifest
from edgec.artifact.package import read_artifact, write_artifact
from edgec.signature import Signature

if TYPE_CHECKING:
    from edgec.runtime.inputs import Inputs
    from edgec.runtime.session import Session
    from edgec.runtime.timing import LatencyStats


class Artifact:
    """A compiled model: ``save`` it, ``run`` it here, or ship the saved file to the board."""

    def __init__(self, manifest: Manifest, files: dict[str, bytes], origin: str = "<memory>",
                 report=None):
        self.manifest = manifest
        self.files = files
        self.origin = origin
        self.report = report  # a CompileReport when the artifact was just compiled
        self._session: Session | None = None

    @property
    def signature(self) -> Signature:
        return self.manifest.signature

    @property
    def board(self) -> str:
        return str(self.manifest.board.get("name"))

    @property
    def library(self) -> bytes:
        return self.files[self.manifest.entry["library"]]

    def save(self, path: str | os.PathLike) -> Path:
        """Write the artifact to ``path`` (atomically) and return the path."""
        path = Path(path)
        write_artifact(path, self.manifest, self.files)
        return path

    def session(self, threads: int | None = None) -> "Session":
        """The artifact loaded into the TVM runtime on this machine (loaded once).

        ``threads`` sets the runtime's thread count for this process (default: physical cores).
        """
        if self.manifest.entry.get("kind") == "c":
            from edgec.errors import OptionError

            raise OptionError(f"'{self.origin}' is C code for the microcontroller board "
                              f"'{self.board}': run it emulated (device='emulate') or build "
                              "model.c into the board's firmware")
        if self._session is None:
            from edgec.runtime.session import Session

            self._session = Session(self.manifest, self.library, self.origin, threads=threads)
        return self._session

    def run(self, inputs: "Inputs", device: str | None = None) -> dict[str, np.ndarray]:
        """Run once: inputs by name (or in order), outputs by name.

        ``device`` is None or "local" (this machine), "emulate" (the board, emulated), or
        "rpc://HOST:PORT" (a device running ``edgec serve``).
        """
        if device in (None, "local"):
            return self.session().run(inputs)
        from edgec.device.runners import DeviceSpec, run_on

        return run_on(DeviceSpec.parse(device), self, inputs, repeat=0).outputs

    def benchmark(self, inputs: "Inputs", repeat: int = 10) -> "LatencyStats":
        return self.session().benchmark(inputs, repeat)

    def __repr__(self) -> str:
        sig = ", ".join(s.describe() for s in self.signature.inputs)
        return f"<edgec.Artifact {self.manifest.model.get('name')} for {self.board} ({sig})>"


def load(path: str | os.PathLike) -> Artifact:
    """Read an artifact file, verifying every hash in its manifest."""
    manifest, files = read_artifact(Path(path))
    return Artifact(manifest, files, origin=str(path))
