"""``edgec tune MODEL --target BOARD [--trials N] [--trials-per-task M] [--time-budget 30m]
[--log-dir tuning_logs/] [--rpc-tracker HOST:PORT --rpc-key KEY]``"""

from __future__ import annotations

import argparse
import re

from edgec.errors import OptionError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "tune", help="tune a model's kernels for a board (MetaSchedule, resumable)",
        description="Search schedules for the model's kernels with MetaSchedule's evolutionary "
                    "search and XGBoost cost model, heaviest kernels first, and append the "
                    "measured records to LOG_DIR/<board>/ (host: LOG_DIR/host/<cpu>/), where "
                    "`edgec compile` finds them. Kill it any time; running it again continues "
                    "with the budget that is left.")
    p.add_argument("model", help="the .onnx model file")
    p.add_argument("-t", "--target", default="host", help="board name (default: host)")
    p.add_argument("-s", "--input-shape", action="append", default=[], metavar="NAME:DIMS",
                   help="static shape of an input, as for compile (records are per shape)")
    p.add_argument("--trials-per-task", type=int, default=64, metavar="M",
                   help="measured schedules per kernel: its default schedule (always "
                        "measured first), the searched ones, and records already there "
                        "(default: 64)")
    p.add_argument("--trials", type=int, default=None, metavar="N",
                   help="searched schedules in all, slowest kernels first (default: "
                        "(M - 1) x kernels)")
    p.add_argument("--time-budget", default=None, metavar="DURATION",
                   help="stop after this long, e.g. 30m, 2h, 90s (checked between chunks)")
    p.add_argument("--log-dir", default="tuning_logs", metavar="DIR",
                   help="root of the tuning databases (default: tuning_logs)")
    p.add_argument("--batch", type=int, default=8,
                   help="schedules measured per round; at most this many are lost if the run "
                        "is killed (default: 8)")
    p.add_argument("--build-timeout", type=float, default=None, metavar="SECONDS",
                   help="seconds one candidate's build may take before it is retried once "
                        "(default: sized from the builds measured, at least 60)")
    p.add_argument("--rpc-tracker", metavar="HOST:PORT",
                   help="measure on devices registered with this TVM RPC tracker")
    p.add_argument("--rpc-key", metavar="KEY", help="device key on the tracker (e.g. rasp4b)")
    p.set_defaults(func=run)


def parse_duration(text: str | None) -> float | None:
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match:
        raise OptionError(f"--time-budget {text}: write a duration such as 90s, 30m or 2h")
    value = float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
    if value <= 0:
        raise OptionError(f"--time-budget {text}: must be positive")
    return value


def run(args: argparse.Namespace) -> int:
    from edgec.tuning.tune import tune

    report = tune(args.model, args.target, input_shapes=args.input_shape,
                  trials_per_task=args.trials_per_task, trials=args.trials,
                  time_budget=parse_duration(args.time_budget), log_dir=args.log_dir,
                  rpc_tracker=args.rpc_tracker, rpc_key=args.rpc_key, batch=args.batch,
                  build_timeout=args.build_timeout)
    failed = sum(report.failures.values())
    print(f"tasks      {report.tasks}")
    print(f"trials     {report.trials_run} this run ({report.measured} measured"
          f"{f', {failed} failed' if failed else ''}), {report.trials_before} before")
    print(f"stopped    {report.stopped_by} after {report.seconds:.0f} s")
    if report.best_us:
        total = sum(report.best_us.values())
        print(f"best       {total / 1000:.3f} ms summed over the kernels measured this run")
    print(f"database   {report.database}")
    return 0
