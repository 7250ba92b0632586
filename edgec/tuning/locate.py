"""Where a board's tuning records are: an explicit directory, else ``tuning_logs/<board>`` in
the working directory, else the records shipped with edgec."""

from __future__ import annotations

from pathlib import Path

from edgec.tuning.database import has_records

SHIPPED = Path(__file__).resolve().parents[2] / "tuning_logs"


def shipped_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("edgec.tuning_logs")
    if spec and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return SHIPPED


def board_dir(root: Path, board: str, mcpu: str | None) -> Path:
    """Records are per board; the host board's also per detected CPU model."""
    path = Path(root) / board
    return path / mcpu if board == "host" and mcpu else path


def find_records(board: str, mcpu: str | None, explicit: str | Path | None = None) -> Path | None:
    if explicit:
        path = Path(explicit)
        if has_records(path):
            return path
        nested = board_dir(path, board, mcpu)
        return nested if has_records(nested) else None
    for root in (Path.cwd() / "tuning_logs", shipped_dir()):
        path = board_dir(root, board, mcpu)
        if has_records(path):
            return path
    return None
