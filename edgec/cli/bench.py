"""``edgec bench MODEL --target host``: edgec (default schedules, and tuned where records
exist) against ONNX Runtime on the same inputs and threads, in one run."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench", help="time a model in edgec and ONNX Runtime side by side",
        description="Compile MODEL with default schedules and (where tuning records match) "
                    "tuned, then time both and ONNX Runtime on the same random inputs with the "
                    "same threads, in alternating rounds (each keeps its best round), and "
                    "measure each engine's peak memory in a fresh process.")
    p.add_argument("model", help="the .onnx model file")
    p.add_argument("-t", "--target", default="host",
                   help="a board this machine can run (default: host)")
    p.add_argument("-s", "--input-shape", action="append", default=[], metavar="NAME:DIMS",
                   help="static shape of an input, as for compile")
    p.add_argument("--tuning-logs", metavar="DIR",
                   help="tuning records for the tuned column (default: as compile finds them)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for both engines (default: physical cores)")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds (default: 5)")
    p.add_argument("--repeat", type=int, default=20, help="runs per round (default: 20)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from edgec.errors import OptionError
    from edgec.fileio import write_json
    from edgec.interface.bench import bench, table

    if args.rounds < 1 or args.repeat < 1:
        raise OptionError("--rounds and --repeat must be positive")
    result = bench(args.model, args.target, input_shapes=args.input_shape,
                   rounds=args.rounds, repeat=args.repeat, tuning_logs=args.tuning_logs,
                   measure_memory=not args.no_memory, threads=args.threads)
    print(table([result]))
    if args.json:
        write_json(args.json, dataclasses.asdict(result))
    return 0

