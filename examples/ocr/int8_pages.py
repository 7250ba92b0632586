#!/usr/bin/env python3
"""Does PP-OCRv4 det + rec, both quantized to int8 by edgec, still read the same text off a page?

Renders pages (640x480, white-ish paper, 6 lines of random words and numbers each) with
Pillow, runs the whole reading pipeline twice, once with both models compiled by edgec in fp32
and once with both in int8 (each calibrated on other rendered pages / lines):

1. det on the page (the page's own size, normalized as rapidocr does), boxes from rapidocr's
   own DB post-processing (``DBPostProcess``, rapidocr's default thresholds);
2. each box cropped (its bounding rectangle), resized to height 48 and zero-padded to width
   320 as the recognizer expects, read by rec, CTC-decoded over the model's alphabet;
3. the page's lines in reading order (top to bottom).

A line counts as read the same when fp32 and int8 give the same text at the same position,
spaces ignored as PaddleOCR's recognition metric ignores them (also printed: the same words,
i.e. spaces at the ends and repeated ones ignored, and character for character); a page whose
boxes differ in number counts its unmatched lines as different.

    python examples/ocr/int8_pages.py [--pages 20] [--calibration 16]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import int8_text  # noqa: E402  (the recognizer side: alphabet, rendering, decoding)

PAGE_H, PAGE_W = 480, 640
LINES_PER_PAGE = 6


def det_model() -> Path:
    return int8_text.rapidocr_model("ch_PP-OCRv4_det_infer.onnx")


def render_page(seed: int) -> tuple[np.ndarray, list[str]]:
    """An RGB page (uint8 [H, W, 3]) and the texts drawn on it, top to bottom."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    paper = int(rng.integers(215, 256))
    image = Image.new("RGB", (PAGE_W, PAGE_H), (paper,) * 3)
    draw = ImageDraw.Draw(image)
    texts = int8_text.random_texts(LINES_PER_PAGE, seed=seed)
    step = PAGE_H // (LINES_PER_PAGE + 1)
    for row, text in enumerate(texts):
        font = ImageFont.load_default(size=int(rng.integers(24, 34)))
        ink = int(rng.integers(0, 80))
        draw.text((int(rng.integers(20, 120)), step // 2 + row * step + int(rng.integers(-6, 6))),
                  text, fill=(ink,) * 3, font=font)
    return np.asarray(image), texts


def det_input(page: np.ndarray) -> np.ndarray:
    """rapidocr's normalization ((pixel / 255 - 0.5) / 0.5, CHW), at the page's own size."""
    x = (page.astype(np.float32) / 255.0 - 0.5) / 0.5
    return x.transpose(2, 0, 1)[None]


def rec_input(page: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The box's bounding rectangle, height 48, zero-padded to width 320 (PaddleOCR's way)."""
    from PIL import Image

    x0, y0 = np.floor(box.min(axis=0)).astype(int)
    x1, y1 = np.ceil(box.max(axis=0)).astype(int)
    return int8_text.line_input(Image.fromarray(page[max(y0, 0):y1, max(x0, 0):x1]))[None]


def read_page(det, rec, page: np.ndarray, alphabet, post) -> list[str]:
    probabilities = det.run({"x": det_input(page)})[det.signature.outputs[0].name]
    boxes, _ = post(probabilities, (PAGE_H, PAGE_W))
    order = sorted(range(len(boxes)), key=lambda i: (boxes[i][:, 1].mean(),
                                                       boxes[i][:, 0].mean()))
    out = rec.signature.outputs[0].name
    return [int8_text.decode(rec.run({"x": rec_input(page, boxes[i])})[out], alphabet)
            for i in order]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--calibration", type=int, default=16, help="pages (det) / 8x lines")
    parser.add_argument("--method", default="percentile")
    parser.add_argument("--target", default="host")
    args = parser.parse_args()
    import edgec
    from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess

    post = DBPostProcess(thresh=0.3, box_thresh=0.5, max_candidates=1000, unclip_ratio=1.6,
                         score_mode="fast", use_dilation=True)
    rec_path = int8_text.rec_model()
    alphabet = int8_text.characters(rec_path)
    det_shapes = {"x": (1, 3, PAGE_H, PAGE_W)}
    rec_shapes = {"x": (1, 3, int8_text.HEIGHT, int8_text.WIDTH)}
    det_calib = [{"x": det_input(render_page(10_000 + i)[0])} for i in range(args.calibration)]
    rec_calib = [{"x": int8_text.render(t, seed=i)[None]} for i, t in
                 enumerate(int8_text.random_texts(8 * args.calibration, seed=2))]
    models = {}
    for precision in ("fp32", "int8"):
        quantize = {} if precision == "fp32" else {
            "quantize": "int8", "calibration_method": args.method}
        models[precision] = (
            edgec.compile(det_model(), args.target, input_shapes=det_shapes,
                          **quantize, **({"calibration": det_calib} if quantize else {})),
            edgec.compile(rec_path, args.target, input_shapes=rec_shapes,
                          **quantize, **({"calibration": rec_calib} if quantize else {})))
    for name, artifact in zip(("det", "rec"), models["int8"]):
        print(f"{name:<4} " + next(line for line in artifact.report.lines()
                                   if line.startswith("int8")))
    lines = same = words = exact = right32 = right8 = pages_same = 0
    for index in range(args.pages):
        page, texts = render_page(index)
        read32 = read_page(*models["fp32"], page, alphabet, post)
        read8 = read_page(*models["int8"], page, alphabet, post)
        lines += max(len(read32), len(read8))
        matches = sum(int8_text.same_text(a, b) for a, b in zip(read32, read8))
        same += matches
        words += sum(a.split() == b.split() for a, b in zip(read32, read8))
        exact += sum(a == b for a, b in zip(read32, read8))
        pages_same += matches == len(read32) == len(read8)
        right32 += sum(int8_text.same_text(a, t) for a, t in zip(read32, texts))
        right8 += sum(int8_text.same_text(b, t) for b, t in zip(read8, texts))
        if len(read32) != len(read8):
            print(f"  page {index}: fp32 found {len(read32)} lines, int8 {len(read8)}")
        for a, b in zip(read32, read8):
            if not int8_text.same_text(a, b):
                print(f"  page {index}: fp32 {a!r}, int8 {b!r}")
    total = args.pages * LINES_PER_PAGE
    print(f"pages      {args.pages} rendered ({total} lines); {pages_same} read the same "
          f"in full")
    print(f"lines      int8 reads {same} of {lines} ({100 * same / max(lines, 1):.1f}%) as fp32 "
          f"does (spaces ignored); {words} ({100 * words / max(lines, 1):.1f}%) as the same "
          f"words; {exact} ({100 * exact / max(lines, 1):.1f}%) character for character")
    print(f"correct    fp32 {right32} ({100 * right32 / total:.1f}%), int8 {right8} "
          f"({100 * right8 / total:.1f}%) of the {total} drawn lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
