#!/usr/bin/env python3
"""Benchmark int8: edgec int8 against edgec fp32 and against ONNX Runtime running the QDQ model
its own quantizer makes from the same float model and the same calibration data.

Per model: the float model (ONNX Runtime's quantization pre-processing applied: batch norms
folded), ``onnxruntime.quantization.quantize_static`` (QDQ, per channel, int8) with N
calibration samples, and ``edgec.compile(..., quantize="int8")`` with the same samples. Four
engines, each in a worker process of its own, timed in many short interleaved blocks; the
ratios are medians of per-round ratios with their interquartile range. Also: weight bytes of
the two edgec artifacts, and the int8 outputs' agreement with fp32 on one held-out input.
Calibration inputs are random images (rendered text lines for PP-OCR det): latency does not
depend on them, accuracy is measured elsewhere. A benchmark, not a test.

    python examples/benchmarks/int8.py [--models mobilenet_v2,resnet50,det] [--rounds 20]
        [--block-ms 200] [--samples 16] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _text_image(seed: int, height: int, width: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for line in range(height // 60):
        words = " ".join(rng.choice(["edge", "int8", "kernel", "board", "2026", "model"], 3))
        draw.text((10 + int(rng.integers(0, 30)), 20 + line * 60), words, fill=(0, 0, 0))
    x = np.asarray(image, np.float32) / 255.0
    x = (x - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    return x.transpose(2, 0, 1)[None].astype(np.float32)


def _samples(name: str, input_name: str, shape, count: int, seed: int = 0):
    if name == "det":
        return [{input_name: _text_image(seed + i, shape[2], shape[3])} for i in range(count)]
    rng = np.random.default_rng(seed)
    return [{input_name: rng.random(shape, np.float32)} for _ in range(count)]


def _prepare(path: Path, shapes: dict, out: Path) -> Path:
    """The float model with static shapes, opset >= 13, batch norms folded (ORT's pre-process)."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(path)
    for value in model.graph.input:
        if value.name in shapes:
            for dim, size in zip(value.type.tensor_type.shape.dim, shapes[value.name]):
                dim.ClearField("dim_param")
                dim.dim_value = size
    if model.opset_import[0].version < 13:
        model = version_converter.convert_version(model, 13)
    fixed = out.with_suffix(".fixed.onnx")
    onnx.save(model, fixed)
    quant_pre_process(str(fixed), str(out), skip_symbolic_shape=True)
    return out


def _ort_qdq(float_path: Path, samples, out: Path) -> Path:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(samples)

        def get_next(self):
            return next(self.it, None)

    quantize_static(str(float_path), str(out), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8)
    return out


def run_model(name: str, path: Path, shapes: dict, args, work: Path) -> dict:
    import edgec
    from edgec.interface.interleave import OwnProcess, interleave

    input_name, shape = next(iter(shapes.items()))
    float_path = _prepare(path, shapes, work / f"{name}.onnx")
    samples = _samples(name, input_name, shape, args.samples)
    qdq_path = _ort_qdq(float_path, samples, work / f"{name}.qdq.onnx")
    print(f"{name}: compiling fp32 and int8 ...", file=sys.stderr)
    fp32 = edgec.compile(float_path, "host", tuning_logs=False)
    int8 = edgec.compile(float_path, "host", tuning_logs=False, quantize="int8",
                         calibration=samples)
    fp32.save(work / f"{name}.fp32.edgec.tar")
    int8.save(work / f"{name}.int8.edgec.tar")
    held_out = _samples(name, input_name, shape, 1, seed=1000)[0]
    out32 = next(iter(fp32.run(held_out).values()))
    out8 = next(iter(int8.run(held_out).values()))
    sqnr = 10 * np.log10(np.sum(out32.astype(np.float64) ** 2)
                         / max(np.sum((out32 - out8).astype(np.float64) ** 2), 1e-30))
    engines = {
        "edgec-fp32": OwnProcess("edgec", work / f"{name}.fp32.edgec.tar", held_out,
                                 args.threads),
        "edgec-int8": OwnProcess("edgec", work / f"{name}.int8.edgec.tar", held_out,
                                 args.threads),
        "ort-fp32": OwnProcess("onnxruntime", float_path, held_out, args.threads),
        "ort-qdq": OwnProcess("onnxruntime", qdq_path, held_out, args.threads),
    }
    try:
        timings = interleave(engines, rounds=args.rounds, block_seconds=args.block_ms / 1e3)
    finally:
        for engine in engines.values():
            engine.close()
    quant = int8.report.quantization or {}
    return {
        "model": name,
        "ms": {e: timings.median_ms(e) for e in engines},
        "int8/fp32": timings.ratio("edgec-int8", "edgec-fp32").describe(),
        "int8/ort-qdq": timings.ratio("edgec-int8", "ort-qdq").describe(),
        "ort-qdq/ort-fp32": timings.ratio("ort-qdq", "ort-fp32").describe(),
        "weights": fp32.report.after.weight_bytes / max(int8.report.after.weight_bytes, 1),
        "int8 kernels": sum(quant.get("int8_kernels", {}).values()),
        "float fallbacks": sum(quant.get("float_fallbacks", {}).values()),
        "output SQNR dB": float(sqnr),
    }


def main() -> None:
    from model_set import models

    from edgec.runtime.threads import default_threads

    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--models", default="mobilenet_v2,resnet50,det")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--block-ms", type=float, default=200.0)
    parser.add_argument("--samples", type=int, default=16, help="calibration samples")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    args.threads = args.threads or default_threads()
    known = models()
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgec-int8-bench-") as tmp:
        for name in args.models.split(","):
            if name in ("resnet50", "mobilenet_v2") and not known[name][0].exists():
                import cnn_zoo

                known[name][0].parent.mkdir(parents=True, exist_ok=True)
                cnn_zoo.build(name, known[name][0])
            path, shapes = known[name]
            rows.append(run_model(name, path, shapes, args, Path(tmp)))
    print("| model | edgec fp32 ms | edgec int8 ms | ORT fp32 ms | ORT QDQ ms | int8/fp32 "
          "| int8/ORT QDQ | ORT QDQ/fp32 | weights fp32/int8 | int8 kernels (float) "
          "| output SQNR |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ms = r["ms"]
        print(f"| {r['model']} | {ms['edgec-fp32']:.2f} | {ms['edgec-int8']:.2f} | "
              f"{ms['ort-fp32']:.2f} | {ms['ort-qdq']:.2f} | {r['int8/fp32']} | "
              f"{r['int8/ort-qdq']} | {r['ort-qdq/ort-fp32']} | {r['weights']:.2f}x | "
              f"{r['int8 kernels']} ({r['float fallbacks']}) | {r['output SQNR dB']:.1f} dB |")


if __name__ == "__main__":
    main()
