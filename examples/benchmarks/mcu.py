#!/usr/bin/env python3
"""Benchmark the microcontroller back end: the MLPerf Tiny models (fp32 and int8) and the digits
CNN compiled for Cortex-M boards and run on the emulated boards.

Per model and board: edgec's arena bytes (and the lower bound no plan can beat), flash bytes
(code + weights, from arm-none-eabi-size of the reference build), RAM bytes (arena + stack +
static), the instruction count of one run under qemu -icount (instructions, not cycles or
time), and the outputs against LiteRT (ONNX Runtime for the digits model) on a few random
inputs. Beside them, TFLite Micro's planned activation arena for the same .tflite file
(measured with the ``tflite-micro`` package's host interpreter when it is installed:
``pip install -e '.[tflm]'``) and the .tflite file's size. A benchmark, not a test.

    python examples/benchmarks/mcu.py [--boards cortex-m4,stm32f746] [--models kws,vww,...]
        [--samples 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "models" / "mlperf-tiny"
DIGITS = REPO / "examples" / "digits" / "digits_cnn.onnx"

MODELS = {
    "kws-fp32": TINY / "kws_ref_model_float32.tflite",
    "vww-fp32": TINY / "vww_96_float.tflite",
    "ic-fp32": TINY / "pretrainedResnet.tflite",
    "ad-fp32": TINY / "ad01_fp32.tflite",
    "kws-int8": TINY / "kws_ref_model.tflite",
    "vww-int8": TINY / "vww_96_int8.tflite",
    "ic-int8": TINY / "pretrainedResnet_quant.tflite",
    "ad-int8": TINY / "ad01_int8.tflite",
    "digits-fp32": DIGITS,
}
SHAPES = {"digits-fp32": ["input:1,1,8,8"]}
# the anchors the issue names: TFLite Micro's planned arena for the int8 models
TFLM_INT8_ARENA = {"kws-int8": 16000, "vww-int8": 73728, "ic-int8": 49152, "ad-int8": 768}


def inputs(signature, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in signature.inputs:
        if spec.dtype.startswith("float"):
            feeds[spec.name] = rng.standard_normal(spec.shape).astype(spec.dtype)
        else:
            info = np.iinfo(spec.dtype)
            feeds[spec.name] = rng.integers(info.min, info.max + 1, spec.shape).astype(spec.dtype)
    return feeds


def agreement(name: str, got: dict, want: dict) -> tuple[float, bool]:
    """The worst error and whether it is within what the model kind allows: fp32 1e-4 of the
    output's range (the dynamic-range KWS included: its reference runs it with the weights
    dequantized, as edgec does); int8 two quantization steps."""
    worst, ok = 0.0, True
    for key, ref in want.items():
        out = got[key]
        err = float(np.abs(out.astype(np.float64) - ref.astype(np.float64)).max())
        worst = max(worst, err)
        if ref.dtype == np.int8:
            ok &= err <= 2
        else:
            ok &= err <= 1e-4 * float(np.abs(ref).max()) + 1e-6
    return worst, ok


def tflm_arena(path: Path) -> int | None:
    """TFLite Micro's planned (non-persistent) arena for a .tflite file, or None."""
    import contextlib
    import io
    import os
    import re
    import tempfile

    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        return None
    # print_allocations() writes from C++ to the process's stderr: capture the file descriptor
    with tempfile.TemporaryFile(mode="w+") as capture, contextlib.redirect_stderr(io.StringIO()):
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            try:
                interpreter = runtime.Interpreter.from_file(str(path),
                                                            arena_size=4 * 1024 * 1024)
            except RuntimeError:  # TFLite Micro cannot run it (hybrid models)
                return None
            detail = interpreter.get_input_details(0)
            interpreter.set_input(np.zeros(detail["shape"], detail["dtype"]), 0)
            interpreter.invoke()
            interpreter.print_allocations()
            sys.stderr.flush()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        match = re.search(r"Arena allocation head (\d+) bytes", capture.read())
    return int(match.group(1)) if match else None


def reference_for(path: Path):
    from edgec.reference import open_reference

    return open_reference(str(path))


def main() -> int:
    import edgec
    from edgec.device.runners import DeviceSpec, run_on
    from edgec.errors import EdgecError

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", default="cortex-m4,stm32f746,cortex-m7,cortex-m55")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--json", help="also write the rows as JSON")
    args = parser.parse_args()
    rows = []
    for name in args.models.split(","):
        path = MODELS[name]
        reference = reference_for(path)
        tflm = tflm_arena(path) if path.suffix == ".tflite" else None
        for board in args.boards.split(","):
            row = {"model": name, "board": board, "file_bytes": path.stat().st_size,
                   "tflm_arena": tflm, "tflm_int8_anchor": TFLM_INT8_ARENA.get(name)}
            start = time.perf_counter()
            try:
                artifact = edgec.compile(path, board, input_shapes=SHAPES.get(name))
            except EdgecError as err:
                row["error"] = str(err)
                rows.append(row)
                print(f"{name:12} {board:10} does not compile: {err}", flush=True)
                continue
            row["compile_s"] = round(time.perf_counter() - start, 1)
            mcu = artifact.manifest.stats["mcu"]
            row.update(arena=mcu["arena_bytes"], arena_lower_bound=mcu["arena_lower_bound"],
                       flash=mcu["flash_bytes"], ram=mcu["ram_bytes"], flash_limit=mcu["flash_limit"],
                       ram_limit=mcu["ram_limit"])
            worst, ok = 0.0, True
            for seed in range(args.samples):
                feeds = inputs(artifact.signature, seed)
                run = run_on(DeviceSpec("emulate"), artifact, feeds)
                err, good = agreement(name, run.outputs, reference.run(feeds))
                worst, ok = max(worst, err), ok and good
                row["instructions"] = run.instructions
            row.update(max_abs_err=worst, agrees=ok)
            rows.append(row)
            print(f"{name:12} {board:10} arena {row['arena']:>8,} (bound {row['arena_lower_bound']:,}"
                  f", TFLM {tflm if tflm is not None else '-'})  flash {row['flash']:>9,}  "
                  f"ram {row['ram']:>8,}  instr {row['instructions']:>12,}  err {worst:.3g} "
                  f"{'ok' if ok else 'FAIL'}", flush=True)
    print()
    print("| model | board | arena B | TFLM arena B | flash B | .tflite + 16 KiB | RAM B / board "
          "| instructions | max err | agrees |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['model']} | {r['board']} | {r['error']} |")
            continue
        tflm = r["tflm_arena"] if r["tflm_arena"] is not None else "-"
        print(f"| {r['model']} | {r['board']} | {r['arena']:,} | {tflm if isinstance(tflm, str) else f'{tflm:,}'} | "
              f"{r['flash']:,} | {r['file_bytes'] + 16384:,} | {r['ram']:,} / {r['ram_limit']:,} | "
              f"{r['instructions']:,} | {r['max_abs_err']:.3g} | {'yes' if r['agrees'] else 'NO'} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0 if all(r.get("agrees") for r in rows if "error" not in r) else 1


if __name__ == "__main__":
    sys.exit(main())
