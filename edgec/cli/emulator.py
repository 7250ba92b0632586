"""``edgec emulator setup BOARD`` / ``edgec emulator exec BOARD -- ARGS``: emulated boards."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("emulator", help="set up and use emulated boards (qemu user mode)",
                       description="Emulated boards run artifacts for ARM Linux boards on this "
                                   "machine under qemu user mode, with the board's Debian "
                                   "userland and TVM runtime.")
    cmds = p.add_subparsers(dest="emulator_command", metavar="ACTION", required=True)
    setup = cmds.add_parser("setup", help="download and build the emulated userland for a board")
    setup.add_argument("board", help="board name, e.g. rasp4b")
    setup.add_argument("--force", action="store_true", help="provision again from scratch")
    setup.set_defaults(func=run_setup)
    execute = cmds.add_parser("exec", help="run an edgec command on the emulated board",
                              description="Run `edgec ARGS...` on the emulated board, e.g. "
                                          "`edgec emulator exec rasp4b serve --port 9090`.")
    execute.add_argument("board")
    execute.add_argument("edgec_args", nargs=argparse.REMAINDER, metavar="ARGS")
    execute.set_defaults(func=run_exec)


def run_setup(args: argparse.Namespace) -> int:
    import time

    from edgec.device.emulator import provision
    from edgec.targets import get_board

    board = get_board(args.board)
    start = time.time()
    if board.kind == "mcu":
        from edgec.device.firmware import check_board

        print(check_board(board))
        return 0
    print(f"setting up the emulated {board.name} ({board.emulator.debian_arch if board.emulator else board.arch})...",
          flush=True)
    env = provision(board, force=args.force)
    print(f"emulator   {board.name}: ready in {env.root} ({time.time() - start:.0f} s)")
    return 0


def run_exec(args: argparse.Namespace) -> int:
    import subprocess

    from edgec.device.emulator import popen_edgec
    from edgec.targets import get_board
    import tempfile
    from pathlib import Path

    board = get_board(args.board)
    rest = [a for a in args.edgec_args if a != "--"] if args.edgec_args[:1] == ["--"] else \
        args.edgec_args
    with tempfile.TemporaryDirectory(prefix="edgec-emu-src-") as staging:
        process = popen_edgec(board, rest, Path(staging))
        try:
            return process.wait()
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: stop the emulated program too
            process.terminate()
            try:
                return process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                return 130
