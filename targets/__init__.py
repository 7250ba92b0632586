"""Boards as data: the ``*.toml`` files under ``boards/`` and the code that reads them."""

from edgec.targets.board import Board, load_board_file
from edgec.targets.registry import all_boards, board_for_manifest, get_board, list_boards
from edgec.targets.resolve import ResolvedTarget, resolve_target

__all__ = ["Board", "ResolvedTarget", "all_boards", "board_for_manifest", "get_board", "list_boards",
           "load_board_file", "resolve_target"]
