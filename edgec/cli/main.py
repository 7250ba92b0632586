"""The ``edgec`` command: parses arguments, configures logging, turns errors into messages.

Each sub-command lives in its own module with ``add_parser(subparsers)`` and ``run(args)``;
they only parse and print, the work is done by the Python API.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import traceback

from edgec.errors import EdgecError, InternalError

EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


def _commands():
    from edgec.cli import bench as bench_cmd
    from edgec.cli import check_model as check_model_cmd
    from edgec.cli import compile as compile_cmd
    from edgec.cli import emulator as emulator_cmd
    from edgec.cli import inspect as inspect_cmd
    from edgec.cli import quantize_report as quantize_report_cmd
    from edgec.cli import run as run_cmd
    from edgec.cli import serve as serve_cmd
    from edgec.cli import targets as targets_cmd
    from edgec.cli import tracker as tracker_cmd
    from edgec.cli import tune as tune_cmd

    return [compile_cmd, check_model_cmd, tune_cmd, bench_cmd, run_cmd, inspect_cmd,
            quantize_report_cmd,
            targets_cmd, serve_cmd, tracker_cmd, emulator_cmd]


def build_parser() -> argparse.ArgumentParser:
    from edgec import __version__

    parser = argparse.ArgumentParser(
        prog="edgec",
        description="Compile ONNX and TFLite models into verified artifacts for edge devices "
                    "(on Apache TVM).")
    parser.add_argument("--version", action="version", version=f"edgec {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging (-v progress, -vv debug)")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of any error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in _commands():
        command.add_parser(sub)
    return parser


def _terminate_as_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    # SIGTERM (kill, service managers, test harnesses) unwinds like Ctrl-C, so that servers,
    # trackers and emulators shut down their helper processes.
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING if args.verbose == 0 else (
        logging.INFO if args.verbose == 1 else logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if args.verbose < 2:
        logging.getLogger("edgec").setLevel(level)
    try:
        return int(args.func(args) or 0)
    except EdgecError as err:
        if args.debug:
            traceback.print_exc()
        print(f"edgec: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("edgec: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except InternalError as err:
        if args.debug:
            traceback.print_exc()
        print(f"edgec: internal error: {err}\nThis is a bug in edgec or TVM, not in your input; "
              "please report it with the output of --debug.", file=sys.stderr)
        return EXIT_INTERNAL
    except Exception as err:  # anything else is a bug too; never a bare traceback by default
        if args.debug:
            traceback.print_exc()
        print(f"edgec: internal error: {type(err).__name__}: {err}\nThis is a bug in edgec or "
              "TVM; please report it with the output of --debug.", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
