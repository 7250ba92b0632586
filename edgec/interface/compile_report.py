"""What a compile did, in numbers: printed by the CLI, kept (in part) in the manifest."""

from __future__ import annotations

import dataclasses

from edgec.build.pass_runner import PassTiming
from edgec.build.stats import MemoryPlan, ModuleStats


@dataclasses.dataclass
class CompileReport:
    model: str
    board: str
    target: dict
    onnx_nodes: int
    onnx_nodes_cleaned: int
    opset: str
    before: ModuleStats
    after: ModuleStats
    memory: MemoryPlan
    pass_timings: list[PassTiming]
    seconds: dict[str, float]          # import, pipeline, codegen, total
    library_bytes: int

    def stats_json(self) -> dict:
        return {
            "onnx_nodes": self.onnx_nodes,
            "onnx_nodes_after_cleanup": self.onnx_nodes_cleaned,
            "before": {"relax_ops": self.before.relax_ops, "weight_bytes": self.before.weight_bytes},
            "after": {"relax_ops": self.after.relax_ops, "kernels": self.after.kernels,
                      "weight_bytes": self.after.weight_bytes},
            "activation_bytes": self.memory.peak_bytes,
            "library_bytes": self.library_bytes,
        }

    def lines(self) -> list[str]:
        mcpu = self.target.get("mcpu")
        target = self.target.get("kind", "?") + (f" ({self.target.get('mtriple')}"
                                                 f"{', ' + mcpu if mcpu else ''})"
                                                 if self.target.get("mtriple") else "")
        s = self.seconds
        return [
            f"model      {self.model} ({self.opset})",
            f"target     {self.board}: {target}",
            f"ONNX       {self.onnx_nodes} nodes, {self.onnx_nodes_cleaned} after constant folding",
            f"operators  {self.before.relax_ops} Relax ops -> {self.after.kernels} kernels",
            f"weights    {_size(self.before.weight_bytes)} -> {_size(self.after.weight_bytes)}",
            f"memory     {_size(self.memory.peak_bytes)} activations (static plan)",
            f"library    {_size(self.library_bytes)}",
            f"time       {s['total']:.1f} s (import {s['import']:.1f}, passes {s['pipeline']:.1f}, "
            f"codegen {s['codegen']:.1f})",
        ]


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


format_size = _size
