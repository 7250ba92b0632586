#!/usr/bin/env python3
"""Benchmark the pass pipeline: each real model compiled for host at -O0 and -O3 in one run.

Prints, per model: kernels and Relax operators after each level, planned activation memory,
latency at -O0 and -O3 with the same inputs and threads, and the ratio -O3 / -O0 (below 1 is
faster): the median of per-round ratios of interleaved blocks, with its interquartile range
(``edgec/interface/interleave.py``), so that the machine's drift hits both alike. A benchmark,
not a test.

    python examples/benchmarks/pipeline.py [--models det,rec,cls,digits] [--rounds 20]
"""

from __future__ import annotations

import argparse

import numpy as np

import edgec
from edgec.interface.interleave import artifact_block, interleave
from edgec.runtime.inputs import random_inputs
from model_set import models as model_set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="det,rec,cls,digits")
    parser.add_argument("--target", default="host")
    parser.add_argument("--rounds", type=int, default=20, help="interleaved rounds")
    parser.add_argument("--block-ms", type=float, default=200.0, help="length of one block")
    args = parser.parse_args()
    models = model_set()
    rows = []
    for name in args.models.split(","):
        path, shapes = models[name]
        arts = {level: edgec.compile(path, args.target, input_shapes=shapes, opt_level=level)
                for level in (0, 3)}
        inputs = random_inputs(arts[0].signature)
        timings = interleave({level: artifact_block(a, inputs) for level, a in arts.items()},
                             rounds=args.rounds, block_seconds=args.block_ms / 1e3)
        out0, out3 = arts[0].run(inputs), arts[3].run(inputs)
        diff = max(float(np.max(np.abs(out0[k] - out3[k]))) for k in out0)
        r0, r3 = arts[0].report, arts[3].report
        rows.append((name, r0.after.kernels, r3.after.kernels, r0.after.relax_ops,
                     r3.after.relax_ops, r0.after.activation_bytes, r3.after.activation_bytes,
                     timings.median_ms(0), timings.median_ms(3), timings.ratio(3, 0),
                     arts[0].session().threads, diff))
        print(f"{name}: done", flush=True)
    print(f"\n{'model':7} {'kernels':>11} {'ops':>11} {'memory KiB':>14} {'-O0 ms':>9} "
          f"{'-O3 ms':>9} {'O3/O0 [IQR]':>18} {'threads':>7} {'max|O3-O0|':>10}")
    for name, k0, k3, o0, o3, m0, m3, t0, t3, ratio, threads, diff in rows:
        print(f"{name:7} {k0:>5} ->{k3:>3} {o0:>5} ->{o3:>3} {m0 / 1024:>6.0f} ->{m3 / 1024:>5.0f} "
              f"{t0:>9.3f} {t3:>9.3f} {ratio.describe():>18} {threads:>7} {diff:>10.1e}")


if __name__ == "__main__":
    main()
