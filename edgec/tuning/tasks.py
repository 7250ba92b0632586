"""The tuning tasks of a model: the kernels edgec's pipeline produces for a board, exactly as
``edgec compile`` produces them (so the records found match when compiling)."""

from __future__ import annotations

import dataclasses
import logging

import tvm

from edgec.build.pass_runner import run_pipeline
from edgec.frontend import import_model
from edgec.frontend.shapes import shape_map
from edgec.passes.pipeline import PipelineOptions, build_pipeline
from edgec.targets import ResolvedTarget

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Task:
    name: str
    mod: tvm.IRModule        # one PrimFunc, named "main"
    weight: int              # calls per inference
    flops: float             # estimated per call


def lowered_module(model, resolved: ResolvedTarget, input_shapes, opt_level: int | None = None
                   ) -> tvm.IRModule:
    """The model through the graph, layout and lower phases, before any scheduling."""
    import edgec.passes.ops  # noqa: F401  (edgec's operators, before import)

    board = resolved.board
    imported = import_model(model, shape_map(input_shapes))
    options = PipelineOptions(
        opt_level=board.pipeline.opt_level if opt_level is None else opt_level,
        disabled_passes=frozenset(board.pipeline.disabled_passes), layout=board.pipeline.layout,
        fuse_max_depth=board.pipeline.fuse_max_depth)
    entries = [e for e in build_pipeline(options)
               if e.phase in ("graph", "layout", "lower") and e.name != "DefaultSchedules"]
    mod, _ = run_pipeline(imported.mod, entries, resolved.tvm_target())
    return mod


def extract_tasks(mod: tvm.IRModule, target: tvm.target.Target) -> list[Task]:
    """One task per distinct kernel, heaviest (flops x calls) first."""
    from tvm.s_tir import meta_schedule as ms

    tasks = []
    for extracted in ms.relax_integration.extract_tasks(mod, target):
        kernel = extracted.dispatched[0]
        try:
            flops = float(tvm.s_tir.analysis.estimate_tir_flops(kernel))
        except Exception:  # an estimate is only used for ordering
            flops = 0.0
        tasks.append(Task(name=extracted.task_name, mod=kernel, weight=int(extracted.weight),
                          flops=flops))
    return sorted(tasks, key=lambda t: -t.flops * t.weight)
