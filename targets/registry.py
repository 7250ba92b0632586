"""The boards edgec knows: every ``*.toml`` in ``targets/boards/``, loaded once."""

from __future__ import annotations

import functools
from pathlib import Path

from edgec.errors import BoardFileError, TargetError
from edgec.targets.board import Board, load_board_file

BOARDS_DIR = Path(__file__).parent / "boards"


@functools.cache
def all_boards() -> dict[str, Board]:
    """Boards by name and alias."""
    boards: dict[str, Board] = {}
    for path in sorted(BOARDS_DIR.glob("*.toml")):
        board = load_board_file(path)
        for key in (board.name, *board.aliases):
            if key in boards:
                raise BoardFileError(f"board file '{path}': name '{key}' is already used by "
                                     f"'{boards[key].source}'")
            boards[key] = board
    return boards


def list_boards() -> list[Board]:
    seen: dict[str, Board] = {}
    for board in all_boards().values():
        seen.setdefault(board.name, board)
    return sorted(seen.values(), key=lambda b: b.name)


def get_board(name: str) -> Board:
    boards = all_boards()
    if name not in boards:
        names = ", ".join(b.name for b in list_boards())
        raise TargetError(f"unknown target '{name}'; known boards: {names} (run `edgec targets` "
                          "for details); a TVM tag, a TVM target as JSON or a tvmc-style string "
                          "such as 'llvm -mtriple=aarch64-linux-gnu -mcpu=cortex-a72' also work")
    return boards[name]


# The board that runs ad-hoc targets (TVM tag, JSON, tvmc string) of each architecture.
GENERIC_BOARDS = {"x86_64": "host", "aarch64": "aarch64-linux", "armv7l": "armv7-linux"}


def board_for_manifest(board: dict) -> Board:
    """The board an artifact's manifest names, or the generic one of its architecture."""
    name = board.get("name", "")
    boards = all_boards()
    if name in boards:
        return boards[name]
    generic = GENERIC_BOARDS.get(board.get("arch", ""))
    if generic is None:
        raise TargetError(f"no board known for artifact board '{name}' ({board.get('arch')})")
    return boards[generic]
