"""``quantize-report --plot``: per-layer SQNR as a PNG bar chart (Pillow, the ``plot`` extra).

One group per quantized layer, left to right in model order: the weight SQNR and the output
activation SQNR (dB, higher is better; a layer kept in float is drawn grey). A dashed line marks
20 dB, below which a layer's int8 error is 10% RMS of its signal.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

from edgec.errors import OptionError
from edgec.fileio import write_bytes

WIDTH, HEIGHT = 960, 420
MARGIN_LEFT, MARGIN_BOTTOM, MARGIN_TOP = 56, 64, 40
WEIGHT, OUTPUT, FLOAT = (70, 110, 200), (230, 140, 40), (170, 170, 170)
LINE_DB = 20.0


def layer_values(entry: dict) -> list[tuple[str, float | None, float | None, bool]]:
    """(label, weight SQNR, output SQNR, kept in float) per layer, from the manifest entry."""
    tensors = {t["name"]: t for t in entry.get("tensors", [])}
    rows = []
    for index, layer in enumerate(entry.get("layers", []), start=1):
        out = tensors.get(layer.get("output") or "", {}).get("sqnr_db")
        rows.append((f"{index} {layer['op']}", layer.get("weight_sqnr_db"), out,
                     layer.get("precision") == "float32"))
    return rows


def plot(entry: dict, path: str | Path, title: str = "") -> Path:
    try:
        from PIL import Image, ImageDraw
    except ImportError as err:
        raise OptionError("--plot draws with Pillow: pip install pillow (or edgec[plot])") \
            from err
    rows = layer_values(entry)
    if not rows:
        raise OptionError("--plot: this artifact has no per-layer calibration data (a model "
                          "quantized before edgec, e.g. by ONNX Runtime); the table has the "
                          "kernels and fallbacks")
    finite = [v for _, w, o, _ in rows for v in (w, o) if v is not None and math.isfinite(v)]
    top = max([LINE_DB, *finite]) * 1.1
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    plot_h = HEIGHT - MARGIN_BOTTOM - MARGIN_TOP
    plot_w = WIDTH - MARGIN_LEFT - 16
    base = HEIGHT - MARGIN_BOTTOM

    def y_of(db: float) -> float:
        return base - plot_h * max(0.0, min(db, top)) / top

    draw.line([(MARGIN_LEFT, MARGIN_TOP), (MARGIN_LEFT, base), (WIDTH - 16, base)], "black")
    for tick in range(0, int(top) + 1, 10):
        y = y_of(tick)
        draw.line([(MARGIN_LEFT - 4, y), (MARGIN_LEFT, y)], "black")
        draw.text((8, y - 6), f"{tick} dB", fill="black")
    for x in range(MARGIN_LEFT, WIDTH - 16, 12):  # the 20 dB line, dashed
        draw.line([(x, y_of(LINE_DB)), (x + 6, y_of(LINE_DB))], (200, 40, 40))
    group = plot_w / len(rows)
    bar = max(1.0, group * 0.35)
    for i, (label, weight, out, kept) in enumerate(rows):
        x0 = MARGIN_LEFT + i * group + group * 0.15
        for j, (value, color) in enumerate(((weight, WEIGHT), (out, OUTPUT))):
            if value is None:
                continue
            height = top if math.isinf(value) else value
            left = x0 + j * bar
            draw.rectangle([left, y_of(height), left + bar - 1, base],
                           fill=FLOAT if kept else color)
        if len(rows) <= 40 or i % math.ceil(len(rows) / 40) == 0:
            draw.text((x0, base + 6 + 12 * (i % 2)), label.split()[0], fill="black")
    draw.text((MARGIN_LEFT, 10), title or "int8 SQNR per layer (dB)", fill="black")
    legend_x = WIDTH - 330
    for k, (name, color) in enumerate((("weights", WEIGHT), ("output activation", OUTPUT),
                                       ("kept in float", FLOAT))):
        draw.rectangle([legend_x + 110 * k, 12, legend_x + 110 * k + 10, 22], fill=color)
        draw.text((legend_x + 110 * k + 14, 10), name, fill="black")
    draw.text((MARGIN_LEFT, HEIGHT - 22), "layer (model order)", fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return write_bytes(path, buffer.getvalue())
