"""``edgec check-model MODEL [--input-shape NAME:DIMS] [--freeze-input NAME=VALUE] [--json]``"""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("check-model", help="list a model's operators and whether edgec can "
                                           "compile each, before compiling",
                       description="List every operator type of an ONNX or TFLite model with "
                                   "its count and status: supported, supported with a constant "
                                   "input (shape, axes, pads...), folded at compile time, "
                                   "needs --freeze-input, or unsupported (with the nodes). "
                                   "Exits 1 when the model cannot be compiled as it is.")
    p.add_argument("model", help="the .onnx or .tflite model file")
    p.add_argument("-s", "--input-shape", action="append", default=[], metavar="NAME:DIMS",
                   help="static shape of an input, as for compile (repeat per input)")
    p.add_argument("--freeze-input", action="append", default=[],
                   metavar="NAME=VALUE|NAME=FILE.npy", help="as for compile (repeatable)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from edgec.frontend.coverage import check_model
    from edgec.frontend.freeze import freeze_map
    from edgec.frontend.shapes import shape_map

    report = check_model(args.model, shape_map(args.input_shape) or None,
                         freeze_map(args.freeze_input))
    print(json.dumps(report.to_json(), indent=2) if args.json else report.describe())
    return 0 if report.compiles else 1
