"""``edgec run ARTIFACT [--device local|emulate|rpc://HOST:PORT] [--inputs in.npz]
[--outputs out.npz] [--repeat N] [--check MODEL.onnx|MODEL.tflite]``"""

from __future__ import annotations

import argparse
import logging

from edgec.errors import CheckFailedError, OptionError
from edgec.reference.compare import DEFAULT_ATOL, DEFAULT_RTOL

logger = logging.getLogger(__name__)


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="run an artifact, time it, compare it with ONNX Runtime or LiteRT",
                       description="Run an artifact here, on a device over RPC, or on an "
                                   "emulated board; print its latency and, with --check, "
                                   "compare its outputs with ONNX Runtime's (LiteRT's for a "
                                   ".tflite model) on this machine.")
    p.add_argument("artifact", help="the .edgec.tar file")
    p.add_argument("-d", "--device", default="local", metavar="DEVICE",
                   help="local (default), emulate (qemu, see `edgec emulator setup`), or "
                        "rpc://HOST:PORT (a device running `edgec serve`)")
    p.add_argument("--tracker", metavar="HOST:PORT",
                   help="get a device from a TVM RPC tracker instead (with --key)")
    p.add_argument("--key", help="device key for --tracker")
    p.add_argument("-i", "--inputs", metavar="IN.npz",
                   help="inputs, one array per input name (default: random, see --seed)")
    p.add_argument("-o", "--outputs", metavar="OUT.npz", help="write the outputs here")
    p.add_argument("-n", "--repeat", type=int, default=10,
                   help="timed runs after one warm-up (default 10; 0 runs once, untimed)")
    p.add_argument("--check", metavar="MODEL",
                   help="compare outputs (and latency) with ONNX Runtime running this .onnx "
                        "model, or LiteRT running this .tflite model")
    p.add_argument("--atol", type=float, default=DEFAULT_ATOL,
                   help=f"absolute tolerance for --check (default {DEFAULT_ATOL:g})")
    p.add_argument("--rtol", type=float, default=DEFAULT_RTOL,
                   help=f"relative tolerance for --check (default {DEFAULT_RTOL:g})")
    p.add_argument("--seed", type=int, default=0, help="seed for random inputs (default 0)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for edgec and the reference alike (default: physical cores)")
    p.add_argument("--report", metavar="FILE.json",
                   help="also write the latency and where it ran as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgec.artifact import load
    from edgec.device.runners import DeviceSpec, run_on
    from edgec.runtime.inputs import load_npz, random_inputs, save_npz

    if args.repeat < 0:
        raise OptionError(f"--repeat {args.repeat}: must be 0 or more")
    if args.atol < 0 or args.rtol < 0:
        raise OptionError("--atol and --rtol must not be negative")
    if args.threads is not None and args.threads < 1:
        raise OptionError(f"--threads {args.threads}: must be 1 or more")
    spec = DeviceSpec.parse(args.device, args.tracker, args.key)
    artifact = load(args.artifact)
    manifest = artifact.manifest
    if args.inputs:
        inputs = load_npz(args.inputs)
        source = args.inputs
    else:
        inputs = random_inputs(artifact.signature, args.seed)
        source = f"random, seed {args.seed}"
    print(f"artifact   {args.artifact}: {manifest.model['name']} for {artifact.board} "
          f"({manifest.board['arch']})")
    print("inputs     " + ", ".join(s.describe() for s in artifact.signature.inputs) +
          f" ({source})")
    reference = _reference(args, manifest) if args.check else None
    result = run_on(spec, artifact, inputs, args.repeat, args.threads)
    print(f"device     {result.where}")
    if args.outputs:
        save_npz(args.outputs, result.outputs)
        print(f"outputs    written to {args.outputs}")
    else:
        print("outputs    " + ", ".join(s.describe() for s in artifact.signature.outputs))
    label = "edgec (emulated)" if result.emulated else "edgec"
    if result.instructions is not None:
        print(f"instructions {result.instructions:,} for one run (qemu -icount: a count of "
              "instructions, not cycles or time)")
    if result.latency is not None:
        threads = f", {result.threads} threads" if result.threads else ""
        print(f"latency    {label:<12} {result.latency.describe()}{threads}")
        if result.emulated:
            print("           (emulated timing: says nothing about the real board's speed)")
    if args.report:
        _write_report(args.report, result)
    if reference is None:
        return 0
    return _check(args, reference, inputs, result)


def _check(args, reference, inputs, result) -> int:
    from edgec.reference.compare import compare_outputs

    expected = reference.run(inputs)
    if args.repeat > 0 and result.latency is not None and not result.emulated and \
            result.where == "this machine":
        ref = reference.benchmark(inputs, args.repeat)
        engine = reference.name.lower().replace(" ", "")
        print(f"latency    {engine:<12} {ref.describe()}, {reference.threads} threads")
        print(f"ratio      edgec / {engine} = {result.latency.mean_ms / ref.mean_ms:.2f}x "
              "(mean)")
    comparison = compare_outputs(result.outputs, expected, atol=args.atol, rtol=args.rtol)
    for item in comparison.outputs:
        verdict = "ok" if item.passed else "FAIL"
        note = f" ({item.note})" if item.note else ""
        print(f"check      {item.name}: max abs err {item.max_abs:.3g}, max rel err "
              f"{item.max_rel:.3g}  {verdict}{note}")
    tol = f"atol {args.atol:g}, rtol {args.rtol:g}"
    if getattr(reference, "note", ""):
        print(f"note       {reference.note}")
    if not comparison.passed:
        raise CheckFailedError(f"outputs differ from {reference.name} beyond {tol} "
                               f"(max abs error {comparison.max_abs:.3g})")
    print(f"result     PASS: matches {reference.name} (on this machine) within {tol}")
    return 0


def _reference(args, manifest):
    from edgec.reference import open_reference
    from edgec.reference.onnxruntime_ref import model_sha256
    from edgec.runtime.threads import configure_threads

    reference = open_reference(args.check, threads=configure_threads(args.threads))
    try:
        same = model_sha256(args.check) == manifest.model.get("sha256")
    except OSError:
        same = False
    if not same:
        logger.warning("%s is not the model this artifact was compiled from (sha256 differs); "
                       "comparing anyway", args.check)
    return reference


def _write_report(path: str, result) -> None:
    import dataclasses

    from edgec.fileio import write_json
    from edgec.runtime.cpu_features import machine_arch

    write_json(path, {"where": result.where, "emulated": result.emulated,
                      "threads": result.threads, "arch": machine_arch(),
                      "instructions": result.instructions,
                      "latency": dataclasses.asdict(result.latency) if result.latency else None})
