#!/usr/bin/env python3
"""Benchmark the quantization modes for matmul-heavy models: edgec fp32, int8-dynamic,
int8-weights and int4-weights against ONNX Runtime fp32 and ONNX Runtime's own dynamic int8
(``onnxruntime.quantization.quantize_dynamic``) on a BERT-style encoder.

The encoder (``examples/models/transformer.py``, random weights) is built at each token
count: 1 token is the decode step of a generative model (matrix-vector products that stream
their weights), more tokens are an encoder pass (matrix-matrix). Every engine runs in a worker
process of its own, in many short interleaved blocks; ratios are medians of per-round ratios
with their interquartile range. Also: weight bytes in the artifact and each mode's error
against fp32 (relative RMS of the output) on one input. A benchmark, not a test.

    python examples/benchmarks/matmul_quant.py [--tokens 1,64] [--layers 4] [--hidden 512]
        [--rounds 20] [--block-ms 200] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "models"))

MODES = ("int8-dynamic", "int8-weights", "int4-weights")


def run(tokens: int, args, work: Path) -> dict:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformer import encoder

    import edgec
    from edgec.interface.interleave import OwnProcess, interleave

    float_path = work / f"encoder_{tokens}.onnx"
    onnx.save(encoder(args.layers, args.hidden, args.heads, tokens), float_path)
    ort_path = work / f"encoder_{tokens}.dynamic.onnx"
    quantize_dynamic(str(float_path), str(ort_path), weight_type=QuantType.QInt8)
    x = {"x": np.random.default_rng(1).standard_normal((tokens, args.hidden)).astype(np.float32)}
    artifacts = {"fp32": edgec.compile(float_path, "host", tuning_logs=False)}
    for mode in MODES:
        print(f"{tokens} tokens: compiling {mode} ...", file=sys.stderr)
        artifacts[mode] = edgec.compile(float_path, "host", tuning_logs=False, quantize=mode)
    reference = artifacts["fp32"].run(x)["y"]
    errors, sizes = {}, {}
    for name, artifact in artifacts.items():
        artifact.save(work / f"{name}_{tokens}.edgec.tar")
        out = artifact.run(x)["y"]
        errors[name] = float(np.sqrt(np.mean((out - reference) ** 2) / np.mean(reference ** 2)))
        sizes[name] = artifact.report.after.weight_bytes
    engines = {f"edgec {name}": OwnProcess("edgec", work / f"{name}_{tokens}.edgec.tar", x,
                                           args.threads) for name in artifacts}
    engines["ort fp32"] = OwnProcess("onnxruntime", float_path, x, args.threads)
    engines["ort dynamic"] = OwnProcess("onnxruntime", ort_path, x, args.threads)
    try:
        timings = interleave(engines, rounds=args.rounds, block_seconds=args.block_ms / 1e3)
    finally:
        for engine in engines.values():
            engine.close()
    return {"tokens": tokens, "timings": timings, "errors": errors, "sizes": sizes}


def main() -> None:
    from edgec.runtime.threads import default_threads

    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--tokens", default="1,64")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--block-ms", type=float, default=200.0)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    args.threads = args.threads or default_threads()
    with tempfile.TemporaryDirectory(prefix="edgec-matmul-bench-") as tmp:
        results = [run(int(t), args, Path(tmp)) for t in args.tokens.split(",")]
    print(f"encoder: {args.layers} layers, hidden {args.hidden}, {args.heads} heads; "
          f"{args.threads} threads")
    print("| tokens | engine | ms | / edgec fp32 | / ORT dynamic | weights | error vs fp32 |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        t = r["timings"]
        for engine in t.blocks:
            name = engine.removeprefix("edgec ")
            size = r["sizes"].get(name)
            size_text = f"{size / 2**20:.2f} MiB" if size else "-"
            error = r["errors"].get(name) if engine.startswith("edgec") else None
            error_text = f"{100 * error:.2f}%" if error is not None else "-"
            print(f"| {r['tokens']} | {engine} | {t.median_ms(engine):.3f} | "
                  f"{t.ratio(engine, 'edgec fp32').describe()} | "
                  f"{t.ratio(engine, 'ort dynamic').describe()} | {size_text} | {error_text} |")


if __name__ == "__main__":
    main()
