#!/usr/bin/env python3
"""Does PP-OCRv4's recognizer, quantized to int8 by edgec, still read the same text?

Renders text lines with Pillow (random words, digits and punctuation; several sizes, slight
offsets and grey levels), feeds them to the PP-OCRv4 rec model that ships in the PyPI package
``rapidocr-onnxruntime`` compiled by edgec in fp32 and in int8 (calibrated on other rendered
lines), decodes both with CTC greedy decoding over the model's own character list, and prints
how many lines int8 reads as fp32 does (spaces ignored, as PaddleOCR's own recognition metric
does; also character for character), and how many each reads right.

    python examples/ocr/int8_text.py [--lines 200] [--calibration 128] [--method percentile]
                                     [--budget 2%] [--eval-lines 64]
"""

from __future__ import annotations

import argparse
import importlib.util
import string
import sys
from pathlib import Path

import numpy as np

HEIGHT, WIDTH = 48, 320
WORDS = ("edge", "model", "board", "int8", "tensor", "kernel", "layout", "quantize", "Raspberry",
         "compile", "OCR", "text", "latency", "memory", "ARM", "vector", "2026", "v0.27", "NHWC")


def rapidocr_model(file: str) -> Path:
    """A model file shipped in the PyPI package ``rapidocr-onnxruntime``."""
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or spec.origin is None:
        raise SystemExit("the PP-OCRv4 models come with rapidocr-onnxruntime: pip install "
                         "rapidocr-onnxruntime")
    return Path(spec.origin).parent / "models" / file


def rec_model() -> Path:
    return rapidocr_model("ch_PP-OCRv4_rec_infer.onnx")


def characters(model: Path) -> list[str]:
    """The model's CTC alphabet: blank, its character list, then space (PaddleOCR's order)."""
    import onnx

    proto = onnx.load(str(model), load_external_data=False)
    listed = next(p.value for p in proto.metadata_props if p.key == "character")
    return ["blank", *listed.splitlines(), " "]


def random_texts(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(count):
        parts = []
        for _ in range(int(rng.integers(1, 4))):
            kind = rng.integers(0, 3)
            if kind == 0:
                parts.append(str(rng.choice(WORDS)))
            elif kind == 1:
                parts.append(str(int(rng.integers(0, 100000))))
            else:
                letters = rng.choice(list(string.ascii_letters), int(rng.integers(2, 7)))
                parts.append("".join(letters))
        texts.append(" ".join(parts))
    return texts


def render(text: str, seed: int) -> np.ndarray:
    """One line as the recognizer's input: [3, 48, 320], (pixel / 255 - 0.5) / 0.5, the text
    resized to height 48 and padded with zeros on the right (PaddleOCR's preprocessing)."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    size = int(rng.integers(26, 38))
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = font.getbbox(text)
    pad = int(rng.integers(3, 9))
    ink = int(rng.integers(0, 90))
    paper = int(rng.integers(200, 256))
    image = Image.new("RGB", (right - left + 2 * pad, bottom - top + 2 * pad), (paper,) * 3)
    ImageDraw.Draw(image).text((pad - left, pad - top), text, fill=(ink,) * 3, font=font)
    return line_input(image)


def line_input(image) -> np.ndarray:
    """An RGB PIL image of one text line as the recognizer's input [3, 48, 320]."""
    from PIL import Image

    width = min(WIDTH, int(np.ceil(HEIGHT * image.width / max(image.height, 1))))
    image = image.resize((width, HEIGHT), Image.BILINEAR)
    pixels = np.asarray(image, np.float32).transpose(2, 0, 1) / 255.0
    line = np.zeros((3, HEIGHT, WIDTH), np.float32)
    line[:, :, :width] = (pixels - 0.5) / 0.5
    return line


def decode(logits: np.ndarray, alphabet: list[str]) -> str:
    """CTC greedy: best class per step, repeats merged, blanks dropped."""
    best = logits.reshape(-1, logits.shape[-1]).argmax(-1)
    out, previous = [], -1
    for index in best:
        if index != previous and index != 0:
            out.append(alphabet[index])
        previous = index
    return "".join(out)


def same_text(a: str, b: str) -> bool:
    """Lines compared as PaddleOCR's recognition metric compares them (its default
    ``ignore_space``): spaces removed. Where the recognizer puts a space is unstable at the
    ends of a line (the zero padding) and between words, in fp32 as well."""
    return a.replace(" ", "") == b.replace(" ", "")


def read_lines(artifact, lines: np.ndarray, alphabet) -> list[str]:
    return [decode(artifact.run({"x": line[None]})[artifact.signature.outputs[0].name],
                   alphabet) for line in lines]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--calibration", type=int, default=128)
    parser.add_argument("--method", default="percentile")
    parser.add_argument("--target", default="host")
    parser.add_argument("--bias-correction", action="store_true")
    parser.add_argument("--budget", help="accuracy budget, e.g. 2%%: the share of lines int8 "
                                         "may read differently from fp32, measured on "
                                         "--eval-lines more rendered lines (the most harmful "
                                         "layers stay in float until it holds)")
    parser.add_argument("--eval-lines", type=int, default=64)
    args = parser.parse_args()
    import edgec

    model = rec_model()
    alphabet = characters(model)
    texts = random_texts(args.lines, seed=1)
    lines = np.stack([render(t, seed=1000 + i) for i, t in enumerate(texts)])
    calib = [{"x": render(t, seed=i)[None]}
             for i, t in enumerate(random_texts(args.calibration, seed=2))]
    shapes = {"x": (1, 3, HEIGHT, WIDTH)}
    fp32 = edgec.compile(model, args.target, input_shapes=shapes)
    evaluation = None
    if args.budget:
        evaluation = [{"x": render(t, seed=5000 + i)[None]}
                      for i, t in enumerate(random_texts(args.eval_lines, seed=3))]

    def lines_read_differently(float_out: np.ndarray, int8_out: np.ndarray) -> float:
        """The task's own loss: the share of evaluation lines whose text changes."""
        return float(np.mean([not same_text(decode(a, alphabet), decode(b, alphabet))
                              for a, b in zip(float_out, int8_out)]))

    int8 = edgec.compile(model, args.target, input_shapes=shapes, quantize="int8",
                         calibration=calib, calibration_method=args.method,
                         accuracy_metric=lines_read_differently if args.budget else None,
                         bias_correction=args.bias_correction,
                         evaluation=evaluation, accuracy_budget=args.budget)
    print("\n".join(line for line in int8.report.lines()
                    if line.startswith(("int8", "accuracy"))))
    read32, read8 = read_lines(fp32, lines, alphabet), read_lines(int8, lines, alphabet)
    same = sum(same_text(a, b) for a, b in zip(read32, read8))
    exact = sum(a == b for a, b in zip(read32, read8))
    words = sum(a.split() == b.split() for a, b in zip(read32, read8))
    right32 = sum(same_text(a, t) for a, t in zip(read32, texts))
    right8 = sum(same_text(b, t) for b, t in zip(read8, texts))
    exact32 = sum(a == t for a, t in zip(read32, texts))
    exact8 = sum(b == t for b, t in zip(read8, texts))
    n = len(texts)
    print(f"lines      {n} rendered; int8 reads {same} ({100 * same / n:.1f}%) as fp32 does "
          f"(spaces ignored); {words} ({100 * words / n:.1f}%) as the same words (spaces "
          f"at the ends and repeated ignored); {exact} ({100 * exact / n:.1f}%) character for "
          "character")
    print(f"correct    fp32 {right32} ({100 * right32 / n:.1f}%), int8 {right8} "
          f"({100 * right8 / n:.1f}%); character for character fp32 {exact32} "
          f"({100 * exact32 / n:.1f}%), int8 {exact8} ({100 * exact8 / n:.1f}%)")
    shown = 0
    for t, a, b in zip(texts, read32, read8):
        if a != b and shown < 40:
            shown += 1
            kind = "differs" if not same_text(a, b) else "spaces "
            print(f"  {kind}: {t!r}: fp32 {a!r}, int8 {b!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
