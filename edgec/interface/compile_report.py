"""What a compile did, in numbers: printed by the CLI, kept (in part) in the manifest."""

from __future__ import annotations

import dataclasses

from edgec.build.pass_runner import PassTiming
from edgec.build.snapshot import Snapshot


@dataclasses.dataclass
class CompileReport:
    model: str
    board: str
    target: dict
    onnx_nodes: int
    onnx_nodes_cleaned: int
    opset: str
    before: Snapshot                   # the imported model at -O0
    after: Snapshot                    # after the pipeline
    rewrites: dict[str, int]           # rule -> count, from edgec's passes
    pass_timings: list[PassTiming]
    seconds: dict[str, float]          # import, pipeline, codegen, total
    library_bytes: int
    quantization: dict | None = None   # the manifest's pipeline["quantization"]
    mcu: dict | None = None            # C back end: memory against the board, arena plan

    def stats_json(self) -> dict:
        return {
            "onnx_nodes": self.onnx_nodes,
            "onnx_nodes_after_cleanup": self.onnx_nodes_cleaned,
            "before": self.before.to_json(),
            "after": self.after.to_json(),
            "rewrites": self.rewrites,
            "library_bytes": self.library_bytes,
            **({"mcu": self.mcu} if self.mcu else {}),
        }

    def lines(self) -> list[str]:
        mcpu = self.target.get("mcpu")
        target = self.target.get("kind", "?") + (f" ({self.target.get('mtriple')}"
                                                 f"{', ' + mcpu if mcpu else ''})"
                                                 if self.target.get("mtriple") else
                                                 f" ({mcpu})" if mcpu else "")
        s = self.seconds
        return [
            f"model      {self.model} ({self.opset})",
            f"target     {self.board}: {target}",
            *stats_lines(self.stats_json()),
            *self._quantization_lines(),
            f"{'C source' if self.mcu else 'library':<10} {format_size(self.library_bytes)}",
            f"time       {s['total']:.1f} s (import {s['import']:.1f}, passes {s['pipeline']:.1f}, "
            f"codegen {s['codegen']:.1f})",
        ]


    def _quantization_lines(self) -> list[str]:
        from edgec.quantize.report import evaluation_line, summary_line

        return [line for line in (summary_line(self.quantization),
                                  evaluation_line(self.quantization)) if line]


def stats_lines(stats: dict) -> list[str]:
    """The before -> after lines, from the manifest's ``stats`` (so inspect prints the same)."""
    before, after = stats.get("before", {}), stats.get("after", {})
    lines = [
        f"ONNX       {stats.get('onnx_nodes')} nodes, {stats.get('onnx_nodes_after_cleanup')} "
        "after constant folding",
        f"operators  {before.get('relax_ops')} -> {after.get('relax_ops')} Relax ops",
        f"kernels    {before.get('kernels')} -> {after.get('kernels')}",
        f"weights    {format_size(before.get('weight_bytes', 0))} -> "
        f"{format_size(after.get('weight_bytes', 0))}",
    ]
    if not stats.get("mcu"):  # a C artifact's memory is its arena (below), not TVM's plan
        lines.append(f"memory     {format_size(before.get('activation_bytes', 0))} -> "
                     f"{format_size(after.get('activation_bytes', 0))} activations "
                     "(static plan)")
    if stats.get("mcu"):
        lines += mcu_lines(stats["mcu"])
    rewrites = dict(stats.get("rewrites") or {})
    scheduling = [(rewrites.pop(key, 0), label) for key, label in SCHEDULE_KINDS]
    if any(count for count, _ in scheduling):
        lines.append("schedules  " + ", ".join(f"{count} {label}" for count, label in scheduling
                                               if count or label in ("tuned", "default")))
    if rewrites:
        items = [f"{rule} x{count}" for rule, count in rewrites.items()]
        lines.append("rewrites   " + _wrap(items))
    return lines


def mcu_lines(mcu: dict) -> list[str]:
    """A C artifact's memory against its board (from the reference build)."""
    def of(used: int, limit: int) -> str:
        return f"{used:,} B of {limit:,}" + (f" ({100 * used / limit:.1f}%)" if limit else "")

    return [f"arena      {mcu['arena_bytes']:,} B, one static block for {mcu['kernel_calls']} "
            f"kernel calls (no plan can go below {mcu['arena_lower_bound']:,} B)",
            f"flash      {of(mcu['flash_bytes'], mcu['flash_limit'])}: code and weights",
            f"RAM        {of(mcu['ram_bytes'], mcu['ram_limit'])}: arena, "
            f"{mcu['stack_bytes']:,} B stack, {mcu['static_ram_bytes']:,} B static"]


def arena_plan_lines(mcu: dict) -> list[str]:
    """The arena plan: each buffer's offset, size and the calls it lives through."""
    rows = mcu.get("arena_plan") or []
    lines = [f"{'offset':>9} {'bytes':>9}  calls    buffer"]
    for row in rows:
        calls = f"{row['first']}-{row['last']}" if row["first"] != row["last"] else \
            str(row["first"])
        lines.append(f"{row['offset']:>9,} {row['bytes']:>9,}  {calls:<8} {row['buffer']}")
    return lines


# How kernels got their schedules (counted by ApplyTuningRecords and DefaultSchedules); a kernel
# that "fell back" (a rule failed on it) is also counted as default or naive.
SCHEDULE_KINDS = (("tuned kernel", "tuned"), ("default schedule", "default"),
                  ("naive kernel (no rule applies)", "naive"),
                  ("kernel fell back (a schedule rule failed on it)",
                   "fell back after a failed rule"),
                  ("tuning records of another CPU (ignored)",
                   "with records of another CPU (ignored)"),
                  ("tuning records older than the default schedule (ignored)",
                   "with records older than the default (ignored)"))


def _wrap(items: list[str], width: int = 88) -> str:
    lines, current = [], ""
    for item in items:
        piece = item if not current else current + ", " + item
        if len(piece) > width and current:
            lines.append(current + ",")
            current = item
        else:
            current = piece
    lines.append(current)
    return "\n           ".join(lines)


def format_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
