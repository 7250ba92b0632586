"""``edgec compile MODEL.onnx|MODEL.tflite --target BOARD [--input-shape NAME:DIMS] -o OUT.edgec.tar``"""

from __future__ import annotations

import argparse
from pathlib import Path

from edgec.errors import OptionError


def add_parser(sub) -> None:
    p = sub.add_parser("compile", help="compile an ONNX or TFLite model into an artifact",
                       description="Compile an ONNX or TFLite model into one artifact file for "
                                   "a board.")
    p.add_argument("model", help="the .onnx or .tflite model file")
    p.add_argument("-t", "--target", default="host",
                   help="board name (see `edgec targets`) or a TVM target as JSON "
                        "(default: host)")
    p.add_argument("-s", "--input-shape", action="append", default=[], metavar="NAME:DIMS",
                   help="static shape of an input, e.g. x:1,3,224,224 (repeat per input)")
    p.add_argument("--freeze-input", action="append", default=[],
                   metavar="NAME=VALUE|NAME=FILE.npy",
                   help="make an input that is a constant in practice (a shape, axes, k) a "
                        "constant: NAME=3, NAME=1,-1 or NAME=value.npy (repeatable)")
    p.add_argument("-o", "--output", help="artifact file to write (default: MODEL.edgec.tar)")
    p.add_argument("-O", "--opt-level", type=int, choices=range(0, 4), default=None,
                   metavar="{0,1,2,3}", help="optimization level (default: the board's)")
    p.add_argument("--disable-pass", action="append", default=[], metavar="NAME",
                   help="turn one pass off by name (repeatable)")
    logs = p.add_mutually_exclusive_group()
    logs.add_argument("--tuning-logs", metavar="DIR",
                      help="apply the tuning records in DIR (default: tuning_logs/<board> here, "
                           "else the records shipped with edgec)")
    logs.add_argument("--no-tuning-logs", action="store_true",
                      help="use default schedules only, even where records exist")
    q = p.add_argument_group("post-training quantization")
    q.add_argument("--quantize", choices=["int8", "int8-dynamic", "int8-weights",
                                          "int4-weights"], default=None,
                   help="int8: quantize a float model to int8 (needs --calibration); an "
                        "already quantized QDQ/QOperator model runs on int8 kernels without "
                        "it. int8-dynamic: matmuls on int8, activations quantized on every "
                        "call; int8-weights / int4-weights: matmul weights stored in 8 / 4 "
                        "bits, activations float (neither needs calibration data)")
    q.add_argument("--group-size", type=int, default=32, metavar="ROWS",
                   help="int4-weights: weight rows per scale (default: 32)")
    q.add_argument("--calibration", metavar="NPZ|DIR",
                   help="calibration inputs: an .npz with one array per model input, samples "
                        "stacked along the batch axis, or a folder of .npz files")
    q.add_argument("--calibration-method", choices=["minmax", "percentile", "entropy"],
                   default="minmax", help="how activation ranges are chosen (default: minmax)")
    q.add_argument("--per-tensor", action="store_true",
                   help="one weight scale per tensor instead of per output channel")
    q.add_argument("--bias-correction", action="store_true",
                   help="subtract from each layer's bias the mean error int8 adds to its "
                        "output channels on the calibration data")
    q.add_argument("--int8-adds", action="store_true",
                   help="run the residual adds between int8 layers on int8 too (their inputs "
                        "quantized: smaller tensors, one more rounding; by default the add "
                        "runs in the epilogue of the int8 conv before it)")
    q.add_argument("--eval", metavar="NPZ|DIR", dest="evaluation",
                   help="evaluation inputs (same format as --calibration): int8 is measured "
                        "against float on them (top-1 with --labels, else output error)")
    q.add_argument("--labels", metavar="NPY",
                   help="one class index per evaluation sample, for top-1")
    q.add_argument("--accuracy-budget", metavar="PERCENT",
                   help="largest accepted loss, e.g. 1%% (top-1 points with --labels, else "
                        "relative RMS error): the most sensitive layers go back to float "
                        "until it holds")
    p.add_argument("--c-name", metavar="NAME",
                   help="microcontroller boards: the name in model.h's symbols "
                        "(edgec_NAME_run, EDGEC_NAME_ARENA_BYTES; default: the model's name)")
    p.add_argument("--dump-ir", metavar="DIR", help="write the IR after every pass into DIR")
    p.add_argument("--pass-times", action="store_true", help="print the time of every pass")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import edgec
    from edgec.interface.compile_report import format_size

    output = Path(args.output) if args.output else Path(
        Path(args.model).name.removesuffix(".onnx").removesuffix(".tflite") + ".edgec.tar")
    if output.is_dir():
        raise OptionError(f"-o {output}: is a directory; give a file name such as "
                          f"{output / 'model.edgec.tar'}")
    artifact = edgec.compile(args.model, args.target, input_shapes=args.input_shape,
                             freeze_inputs=args.freeze_input,
                             opt_level=args.opt_level, disabled_passes=args.disable_pass,
                             dump_ir=args.dump_ir,
                             tuning_logs=False if args.no_tuning_logs else (
                                 args.tuning_logs or True),
                             quantize=args.quantize, calibration=args.calibration,
                             calibration_method=args.calibration_method,
                             per_channel=not args.per_tensor,
                             bias_correction=args.bias_correction,
                             int8_adds=args.int8_adds,
                             evaluation=args.evaluation,
                             labels=args.labels, accuracy_budget=args.accuracy_budget,
                             group_size=args.group_size, c_name=args.c_name)
    artifact.save(output)
    report = artifact.report
    for line in report.lines():
        print(line)
    if args.pass_times:
        print("passes:")
        for timing in sorted(report.pass_timings, key=lambda t: -t.seconds):
            print(f"  {timing.seconds * 1e3:9.1f} ms  {timing.phase:<8} {timing.name}")
    sig = artifact.signature
    print("inputs     " + ", ".join(s.describe() for s in sig.inputs))
    print("outputs    " + ", ".join(s.describe() for s in sig.outputs))
    print(f"artifact   {output} ({format_size(output.stat().st_size)})")
    return 0
