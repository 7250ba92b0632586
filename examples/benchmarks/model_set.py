#!/usr/bin/env python3
"""Benchmark the model set: edgec (default schedules, and tuned with the records in
tuning_logs/) against ONNX Runtime, one table from one run.

The set: PaddleOCR PP-OCRv4 det (320x320) and rec, the mobile v2 direction classifier (from the
``rapidocr-onnxruntime`` package), the project's digits CNN, and ResNet-50 / MobileNetV2 built
locally with random weights (``examples/models/cnn_zoo.py``; latency does not depend on the
weights' values). Every engine runs the same inputs with the same threads, in many short
interleaved blocks (``edgec/interface/interleave.py``): latencies are medians of block means,
ratios medians of per-round ratios with their interquartile range; each engine runs in a
worker process of its own (``--in-process``: all in this one). Peak memory is measured per
engine in a fresh process. A benchmark, not a test: the machine is shared, so only ratios
from interleaved rounds mean much.

    python examples/benchmarks/model_set.py [--models det,rec,cls,digits,resnet50,mobilenet_v2]
        [--target host] [--rounds 30] [--block-ms 200] [--in-process] [--threads N]
        [--json FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "models"))


def models() -> dict[str, tuple[Path, dict]]:
    """name -> (ONNX path, input shapes); the zoo models are built into edgec's cache once."""
    from edgec.device.cache import cache_dir

    found = {"digits": (HERE.parent / "digits" / "digits_cnn.onnx", {"input": (1, 1, 8, 8)})}
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec:
        ocr = Path(list(spec.submodule_search_locations)[0]) / "models"
        found.update({
            "det": (ocr / "ch_PP-OCRv4_det_infer.onnx", {"x": (1, 3, 320, 320)}),
            "rec": (ocr / "ch_PP-OCRv4_rec_infer.onnx", {"x": (1, 3, 48, 320)}),
            "cls": (ocr / "ch_ppocr_mobile_v2.0_cls_infer.onnx", {"x": (1, 3, 48, 192)}),
        })
    zoo = cache_dir() / "models"
    for name in ("resnet50", "mobilenet_v2"):
        found[name] = (zoo / f"{name}.onnx", {"input": (1, 3, 224, 224)})
    return found


def main() -> None:
    from edgec.fileio import write_json
    from edgec.interface.bench import bench, table

    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--models", default="det,rec,cls,digits,resnet50,mobilenet_v2")
    parser.add_argument("--target", default="host")
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds")
    parser.add_argument("--block-ms", type=float, default=200.0, help="length of one block")
    parser.add_argument("--in-process", action="store_true",
                        help="every engine in this process (default: each in its own)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--tuning-logs", default=None)
    parser.add_argument("--json", help="also write the results as JSON")
    args = parser.parse_args()
    available = models()
    results = []
    for name in args.models.split(","):
        if name not in available:
            sys.exit(f"model_set.py: unknown or unavailable model '{name}' "
                     f"(available: {', '.join(available)})")
        path, shapes = available[name]
        if name in ("resnet50", "mobilenet_v2"):
            import cnn_zoo

            cnn_zoo.build(name, path)
        results.append(bench(str(path), args.target, input_shapes=shapes, rounds=args.rounds,
                             block_seconds=args.block_ms / 1e3, own_process=not args.in_process,
                             measure_memory=not args.no_memory, threads=args.threads,
                             name=name, tuning_logs=args.tuning_logs))
        print(f"{name}: done", file=sys.stderr, flush=True)
    print(table(results))
    if args.json:
        write_json(args.json, [dataclasses.asdict(r) for r in results])


if __name__ == "__main__":
    main()
