"""``edgec quantize-report ARTIFACT``: per-layer int8 error and what stayed float."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgec.errors import ArtifactError


def add_parser(sub) -> None:
    p = sub.add_parser("quantize-report", help="per-layer quantization report of an artifact",
                       description="Print the int8 layers of an artifact: weight and "
                                   "activation SQNR (signal to int8 rounding and clipping "
                                   "error, measured on the calibration data), int8 kernels, "
                                   "and operators kept in float with the reason.")
    p.add_argument("artifact", help="the .edgec.tar file")
    p.add_argument("--json", action="store_true", help="print the manifest's quantization "
                                                       "section as JSON")
    p.add_argument("--plot", metavar="PNG", help="also draw the per-layer SQNR as a PNG "
                                                 "bar chart (needs Pillow)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgec.artifact import load
    from edgec.quantize.report import evaluation_line, summary_line, table

    entry = load(args.artifact).manifest.pipeline.get("quantization")
    if not entry:
        raise ArtifactError(f"artifact '{args.artifact}' is not quantized; compile with "
                            "--quantize int8 --calibration DATA, or compile a QDQ/QOperator "
                            "model")
    if args.plot:
        from edgec.quantize.plot import plot

        plot(entry, args.plot, title=f"int8 SQNR per layer (dB): {Path(args.artifact).name}")
    if args.json:
        print(json.dumps(entry, indent=2))
        return 0
    print(summary_line(entry))
    if evaluation_line(entry):
        print(evaluation_line(entry))
    for line in table(entry):
        print(line)
    if args.plot:
        print(f"plot       {args.plot}")
    return 0
