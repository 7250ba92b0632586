"""What the model looks like at the two ends of the pipeline: operators, kernels, weight bytes,
activation memory of the static plan.

"Before" is the imported model lowered the plainest way (-O0: every operator its own kernel,
no folding) up to memory planning, without code generation; "after" is read off the real
pipeline as it runs.
"""

from __future__ import annotations

import dataclasses

import tvm

from edgec.build.pass_runner import run_pipeline
from edgec.build.stats import memory_plan, module_stats
from edgec.passes.pipeline import PassEntry, PipelineOptions, build_pipeline


@dataclasses.dataclass
class Snapshot:
    relax_ops: int = 0
    kernels: int = 0
    weight_bytes: int = 0
    activation_bytes: int = 0
    op_histogram: dict[str, int] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict:
        return {"relax_ops": self.relax_ops, "kernels": self.kernels,
                "weight_bytes": self.weight_bytes, "activation_bytes": self.activation_bytes}


class Observer:
    """``on_pass`` hook for run_pipeline that keeps the numbers a Snapshot needs."""

    def __init__(self):
        self.graph_mod: tvm.IRModule | None = None
        self.lowered_mod: tvm.IRModule | None = None
        self.activation_bytes = 0

    def __call__(self, entry: PassEntry, mod: tvm.IRModule) -> None:
        if entry.phase in ("graph", "layout"):
            self.graph_mod = mod
        elif entry.phase == "lower":
            self.lowered_mod = mod
        if entry.name == "StaticPlanBlockMemory":
            self.activation_bytes = memory_plan(mod).peak_bytes

    def snapshot(self, graph_fallback: tvm.IRModule) -> Snapshot:
        graph = module_stats(self.graph_mod or graph_fallback)
        kernels = module_stats(self.lowered_mod).kernels if self.lowered_mod else 0
        return Snapshot(relax_ops=graph.relax_ops, kernels=kernels,
                        weight_bytes=graph.weight_bytes, activation_bytes=self.activation_bytes,
                        op_histogram=graph.op_histogram)


def baseline(mod: tvm.IRModule, target: tvm.target.Target) -> Snapshot:
    """The imported module at -O0, lowered up to its memory plan (no code generation)."""
    entries: list[PassEntry] = []
    for entry in build_pipeline(PipelineOptions(opt_level=0)):
        entries.append(entry)
        if entry.name == "StaticPlanBlockMemory":
            break
    observer = Observer()
    run_pipeline(mod, entries, target, on_pass=observer)
    imported = module_stats(mod)
    snap = observer.snapshot(mod)
    return dataclasses.replace(snap, relax_ops=imported.relax_ops,
                               weight_bytes=imported.weight_bytes,
                               op_histogram=imported.op_histogram)
