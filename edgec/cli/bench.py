"""``edgec bench MODEL --target host``: edgec (default schedules, and tuned where records
exist) against ONNX Runtime on the same inputs and threads, in one run."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench", help="time a model in edgec and ONNX Runtime side by side",
        description="Compile MODEL with default schedules and (where tuning records match) "
                    "tuned, then time both and ONNX Runtime on the same random inputs with the "
                    "same threads, in many short interleaved blocks: latencies are medians of "
                    "block means, ratios the median of per-round ratios with their "
                    "interquartile range (robust to a machine whose speed drifts). Peak memory "
                    "is measured per engine in a fresh process.")
    p.add_argument("model", help="the .onnx model file")
    p.add_argument("-t", "--target", default="host",
                   help="a board this machine can run (default: host)")
    p.add_argument("-s", "--input-shape", action="append", default=[], metavar="NAME:DIMS",
                   help="static shape of an input, as for compile")
    p.add_argument("--tuning-logs", metavar="DIR",
                   help="tuning records for the tuned column (default: as compile finds them)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for both engines (default: physical cores)")
    p.add_argument("--rounds", type=int, default=30,
                   help="interleaved rounds, one block per engine each (default: 30)")
    p.add_argument("--block-ms", type=float, default=200.0,
                   help="length of one block of back-to-back runs (default: 200 ms)")
    p.add_argument("--min-runs", type=int, default=1,
                   help="at least this many runs per block (default: 1)")
    p.add_argument("--in-process", action="store_true",
                   help="run every engine in this process (default: each in a worker process "
                        "of its own; ONNX Runtime ran a small model ~15%% slower beside TVM's "
                        "thread pool)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from edgec.errors import OptionError
    from edgec.fileio import write_json
    from edgec.interface.bench import bench, table

    if args.rounds < 1 or args.min_runs < 1 or args.block_ms <= 0:
        raise OptionError("--rounds, --block-ms and --min-runs must be positive")
    result = bench(args.model, args.target, input_shapes=args.input_shape,
                   rounds=args.rounds, block_seconds=args.block_ms / 1e3,
                   min_runs=args.min_runs, own_process=not args.in_process,
                   tuning_logs=args.tuning_logs, measure_memory=not args.no_memory,
                   threads=args.threads)
    print(table([result]))
    if args.json:
        write_json(args.json, dataclasses.asdict(result))
    return 0

