#!/usr/bin/env python3
"""Benchmark the pass pipeline: each real model compiled for host at -O0 and -O3 in one run.

Prints, per model: kernels, Relax ops and weight bytes before and after, planned activation
memory, and latency at -O0 and -O3 (mean of --repeat runs, same threads), with the ratio
-O3 / -O0 (below 1 is faster). A benchmark, not a test: these machines are shared and noisy.

    python examples/benchmarks/pipeline.py [--models det,rec,cls,digits] [--repeat 20]
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np

import edgec
from edgec.runtime.inputs import random_inputs

HERE = Path(__file__).resolve().parent


def model_set() -> dict[str, tuple[Path, dict]]:
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    ocr = Path(list(spec.submodule_search_locations)[0]) / "models" if spec else None
    models = {"digits": (HERE.parent / "digits" / "digits_cnn.onnx", {"input": (1, 1, 8, 8)})}
    if ocr:
        models.update({
            "det": (ocr / "ch_PP-OCRv4_det_infer.onnx", {"x": (1, 3, 320, 320)}),
            "rec": (ocr / "ch_PP-OCRv4_rec_infer.onnx", {"x": (1, 3, 48, 320)}),
            "cls": (ocr / "ch_ppocr_mobile_v2.0_cls_infer.onnx", {"x": (1, 3, 48, 192)}),
        })
    return models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="det,rec,cls,digits")
    parser.add_argument("--target", default="host")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    models = model_set()
    rows = []
    for name in args.models.split(","):
        path, shapes = models[name]
        results = {}
        for level in (0, 3):
            artifact = edgec.compile(path, args.target, input_shapes=shapes, opt_level=level)
            inputs = random_inputs(artifact.signature)
            session = artifact.session()
            latency = session.benchmark(inputs, args.repeat)
            results[level] = (artifact, latency, session.threads)
        (a0, l0, threads), (a3, l3, _) = results[0], results[3]
        out0 = a0.run(random_inputs(a0.signature, seed=1))
        out3 = a3.run(random_inputs(a3.signature, seed=1))
        diff = max(float(np.max(np.abs(out0[k] - out3[k]))) for k in out0)
        r0, r3 = a0.report, a3.report
        rows.append((name, r0.after.kernels, r3.after.kernels, r0.before.relax_ops,
                     r3.after.relax_ops,
                     r0.after.activation_bytes, r3.after.activation_bytes, l0.mean_ms, l3.mean_ms,
                     threads, diff))
        print(f"{name}: done", flush=True)
    print(f"\n{'model':8} {'kernels O0':>10} {'O3':>5} {'mem O0 KiB':>11} {'O3':>7} "
          f"{'O0 ms':>9} {'O3 ms':>9} {'O3/O0':>6} {'thr':>4} {'max|O3-O0|':>11}")
    for (name, k0, k3, _, _, m0, m3, t0, t3, thr, diff) in rows:
        print(f"{name:8} {k0:>10} {k3:>5} {m0 / 1024:>11.0f} {m3 / 1024:>7.0f} {t0:>9.3f} "
              f"{t3:>9.3f} {t3 / t0:>6.2f} {thr:>4} {diff:>11.2e}")


if __name__ == "__main__":
    main()
