"""Refuse, before loading, an artifact this machine cannot run."""

from __future__ import annotations

from edgec.artifact.manifest import Manifest
from edgec.errors import TargetError
from edgec.runtime.cpu_features import machine_arch, missing_features


def check_runs_here(manifest: Manifest, origin: str) -> None:
    """Raise if the artifact was built for another architecture or for CPU features this one
    lacks."""
    board = manifest.board.get("name", "?")
    arch = manifest.board.get("arch", "?")
    here = machine_arch()
    if arch != here:
        raise TargetError(
            f"artifact '{origin}' was built for board '{board}' ({arch}); this machine is "
            f"{here}, so it cannot run here. Run it on the board itself (`edgec run` there), or "
            "from here over RPC, or recompile it with --target host")
    missing = missing_features(arch, manifest.cpu_features)
    if missing:
        cpu = manifest.target.get("mcpu", "?")
        raise TargetError(
            f"artifact '{origin}' was built for board '{board}' (CPU '{cpu}') and uses "
            f"{', '.join(missing)}, which this machine's CPU lacks; recompile it here with "
            "--target host")
