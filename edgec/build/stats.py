"""What a user sees of a module: operators, kernels, weight bytes, planned activation memory."""

from __future__ import annotations

import collections
import dataclasses

import numpy as np
import tvm
from tvm import relax


@dataclasses.dataclass
class ModuleStats:
    """Counts taken from a Relax IRModule at one point of the pipeline."""

    relax_ops: int = 0
    kernels: int = 0
    weight_bytes: int = 0
    op_histogram: dict[str, int] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def module_stats(mod: tvm.IRModule) -> ModuleStats:
    """Relax operator calls, TIR kernels, and bytes of constants in ``mod``."""
    histogram: collections.Counter = collections.Counter()
    constants: dict[object, int] = {}  # keyed by the IR node: a constant used twice counts once
    kernels = 0
    for _, func in mod.functions_items():
        if isinstance(func, tvm.tirx.PrimFunc):
            kernels += 1
            continue
        if not isinstance(func, relax.Function):
            continue

        def visit(expr, histogram=histogram, constants=constants):
            if isinstance(expr, relax.Call) and isinstance(expr.op, tvm.ir.Op):
                histogram[expr.op.name.removeprefix("relax.")] += 1
            elif isinstance(expr, tvm.ir.expr.GenericConst):
                array = expr.value
                constants[expr] = int(np.prod(array.shape, dtype=np.int64)) * \
                    np.dtype(str(array.dtype)).itemsize

        relax.analysis.post_order_visit(func.body, visit)
    ops = sum(n for op, n in histogram.items() if op != "call_tir")
    return ModuleStats(relax_ops=ops, kernels=kernels, weight_bytes=sum(constants.values()),
                       op_histogram=dict(sorted(histogram.items())))


@dataclasses.dataclass
class MemoryPlan:
    """Activation memory after static planning: planned storage plus unplanned outputs."""

    planned_bytes: int = 0
    unplanned_tensor_bytes: int = 0

    @property
    def peak_bytes(self) -> int:
        return self.planned_bytes + self.unplanned_tensor_bytes


def memory_plan(mod: tvm.IRModule, function: str = "main") -> MemoryPlan:
    """Sum the storage StaticPlanBlockMemory allocated in ``function`` (run right after it)."""
    plan = MemoryPlan()
    if function not in [g.name_hint for g in mod.get_global_vars()]:
        return plan

    def visit(expr):
        if not (isinstance(expr, relax.Call) and isinstance(expr.op, tvm.ir.Op)):
            return
        name = expr.op.name
        if name == "relax.memory.alloc_storage":
            plan.planned_bytes += _shape_bytes(expr.args[0], "uint8")
        elif name == "relax.builtin.alloc_tensor":
            plan.unplanned_tensor_bytes += _shape_bytes(expr.args[0], str(expr.args[1].value))

    relax.analysis.post_order_visit(mod[function].body, visit)
    return plan


def _shape_bytes(shape_expr, dtype: str) -> int:
    if not isinstance(shape_expr, relax.ShapeExpr):
        return 0
    total = 1
    for dim in shape_expr.values:
        if not isinstance(dim, tvm.tirx.IntImm):
            return 0
        total *= int(dim)
    return total * np.dtype(dtype).itemsize
