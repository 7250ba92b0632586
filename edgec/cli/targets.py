"""``edgec targets``: the boards edgec knows, one line each."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("targets", help="list the boards edgec can compile for",
                       description="List the known boards (files in targets/boards/). --target "
                                   "also takes a TVM tag, a TVM target as JSON, or a tvmc-style "
                                   "target string.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgec.targets import list_boards

    boards = list_boards()
    width = max(len(b.name) for b in boards)
    print(f"{'BOARD':<{width}}  {'ARCH':<9} {'KIND':<4}  DESCRIPTION")
    for board in boards:
        notes = []
        if board.aliases:
            notes.append("aka " + ", ".join(board.aliases))
        if not board.available:
            notes.append("back end not built yet")
        if board.emulator:
            notes.append("emulated: qemu")
        suffix = f"  [{'; '.join(notes)}]" if notes else ""
        print(f"{board.name:<{width}}  {board.arch:<9} {board.kind:<4}  {board.description}{suffix}")
    return 0
