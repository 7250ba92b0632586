"""Artifacts: one file with a manifest and the compiled library, verified on load."""

from edgec.artifact.artifact import Artifact, load
from edgec.artifact.manifest import Manifest

__all__ = ["Artifact", "Manifest", "load"]
