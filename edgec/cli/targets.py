"""``edgec targets``: the boards edgec knows, one line each."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("targets", help="list the boards edgec can compile for",
                       description="List the known boards (files in targets/boards/).")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgec.targets import list_boards

    boards = list_boards()
    width = max(len(b.name) for b in boards)
    for board in boards:
        status = "" if board.available else f"  [not yet: {board.unavailable_reason}]"
        aliases = f" (also: {', '.join(board.aliases)})" if board.aliases else ""
        print(f"{board.name:<{width}}  {board.arch:<8} {board.kind:<4} "
              f"{board.description}{aliases}{status}")
    return 0
