"""The quantization section of a manifest as text: the compile report's summary line and the
per-layer table ``edgec quantize-report`` prints."""

from __future__ import annotations


def _db(value) -> str:
    return "exact" if value is None else f"{value:.1f} dB"


def summary_line(entry: dict | None) -> str | None:
    if not entry:
        return None
    kernels = sum(entry.get("int8_kernels", {}).values())
    fallbacks = sum(entry.get("float_fallbacks", {}).values())
    source = entry.get("source")
    if source == "calibrated":
        how = (f"calibrated ({entry['method']}, {entry['samples']} samples, weights "
               f"{'per channel' if entry['per_channel'] else 'per tensor'})")
    elif source == "int8-dynamic":
        how = ("dynamic: activations quantized on every call, weights "
               f"{'per channel' if entry.get('per_channel', True) else 'per tensor'}")
    elif source in ("int8-weights", "int4-weights"):
        groups = f", groups of {entry['group_size']}" if entry.get("group_size") else ""
        how = f"weight-only int{entry.get('bits', 8)}{groups}, activations float"
    else:
        how = "quantized model"
    text = f"int8       {kernels} integer kernels, {fallbacks} kept in float; {how}"
    dot = entry.get("instructions")
    if dot:
        found = dot.get("found")
        seen = ("; " + ", ".join(f"{m} x{n}" for m, n in found.items()) + " in the library"
                if found else "; instructions not checked (no objdump)")
        text += f"; {dot['kernels']} on {dot['isa']}{seen}"
    tensors = [t for t in entry.get("tensors", [])
               if t.get("sqnr_db") is not None and t.get("quantized", True)]
    if tensors:
        worst = min(tensors, key=lambda t: t["sqnr_db"])
        text += f"; lowest activation SQNR {worst['sqnr_db']:.1f} dB ({worst['name']})"
    return text


def evaluation_line(entry: dict | None) -> str | None:
    """``accuracy ...``: int8 against float on the evaluation data, and the budget's choice."""
    ev = (entry or {}).get("evaluation")
    if not ev:
        return None
    if ev["metric"] == "top-1":
        text = (f"accuracy   top-1 {100 * ev['float_value']:.1f}% float, "
                f"{100 * ev['int8_value']:.1f}% int8 ({100 * ev['loss']:+.1f} points lost)")
    elif ev["metric"] == "metric":
        text = (f"accuracy   loss {100 * ev['int8_value']:.2f}% by the given metric "
                f"(output SQNR {_db(ev['sqnr_db'])})")
    else:
        text = (f"accuracy   output error {100 * ev['int8_value']:.2f}% RMS of float "
                f"(SQNR {_db(ev['sqnr_db'])})")
    text += f" on {ev['samples']} samples"
    if ev.get("budget") is not None:
        kept = ev.get("kept_float") or []
        held = "holds" if ev.get("within_budget") else "NOT met even with every layer in float"
        before = ev.get("all_int8_loss")
        text += (f"; budget {100 * ev['budget']:g}% "
                 + (f"(all int8: {100 * before:.2f}%) " if before is not None else "")
                 + held
                 + (f" with {len(kept)} layer(s) in float ({', '.join(kept)})" if kept else "")
                 + f", {ev.get('trials', 1)} trial(s)")
    return text


def table(entry: dict) -> list[str]:
    """One line per quantized layer, then kernels and fallbacks with their reasons."""
    lines = []
    tensors = {t["name"]: t for t in entry.get("tensors", [])}
    layers = entry.get("layers", [])
    if layers:
        lines.append(f"{'#':>3}  {'op':<8} {'prec':<7} {'weight':<16} {'weight SQNR':>11}  "
                     f"{'input':<10} {'in SQNR':>9}  {'output':<10} {'out SQNR':>9}  "
                     "out range")
        for index, layer in enumerate(layers, start=1):
            shape = "x".join(str(d) for d in layer["weight_shape"])
            src = tensors.get(layer["input"], {})
            dst = tensors.get(layer["output"] or "", {})
            if not dst.get("quantized", True):
                dst = {}   # measured, but the kernel writes float (no int8 chain reads it)
            out_range = f"[{dst['lo']:.3g}, {dst['hi']:.3g}]" if dst else "float output"
            lines.append(
                f"{index:>3}  {layer['op']:<8} {layer.get('precision', 'int8'):<7} {shape:<16} "
                f"{_db(layer['weight_sqnr_db']):>11}  "
                f"{layer['input']:<10} {_db(src.get('sqnr_db')):>9}  "
                f"{(layer['output'] or '-'):<10} {(_db(dst.get('sqnr_db')) if dst else '-'):>9}"
                f"  {out_range}")
    for kind, count in sorted(entry.get("int8_kernels", {}).items()):
        lines.append(f"int8 kernel     {kind}: {count}")
    for reason, count in sorted(entry.get("float_fallbacks", {}).items()):
        lines.append(f"kept in float   {count} operator(s): {reason}")
    return lines
