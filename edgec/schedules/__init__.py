"""Default CPU schedules: rule-based, applied to every kernel that has no tuning record.

Rules are tried in order; the first that returns a schedule wins (dlight's ApplyDefaultSchedule):

0. ``DotProductConv``  int8 convolutions on the board's dot-product instruction (VNNI, sdot);
1. ``TiledReduction``  conv2d/matmul/pooling + fused epilogue: tiled, register-blocked,
                       vectorized along the output's contiguous axis, parallel over cores;
2. ``Elementwise``     injective kernels: inlined, fused, vectorized, parallel;
3. dlight's CPU ``Reduction`` (softmax, norms) and ``GEMV`` rules.

A rule that raises on a kernel it cannot handle (dlight's rules do, e.g. on a kernel with two
outputs) is skipped for that kernel and the next rule tried; a kernel no rule takes keeps TVM's
naive loop nest (correct, slow). Neither ever fails a compile.

Kernels with opaque blocks (no declared reads or writes: extern calls such as argsort, while
loops written with TVM's IR builder, as in NonMaxSuppression) are left as TVM wrote them: a
schedule primitive cannot see what such a block reads, and inlining a producer into the kernel
left the opaque block reading a buffer that no longer existed (a code-generation failure).
Kernels whose blocks keep values in local variables (TVMScript kernels such as the float8
encoder: each ``v: T.float64 = ...`` allocates a one-element buffer) are left as written too:
vectorized by the ``Elementwise`` rule, such a kernel shared the variables between lanes (a
silent wrong answer).
"""

from __future__ import annotations

import dataclasses

from tvm.s_tir import dlight

from edgec.schedules.dot_conv import DotProductConv
from edgec.schedules.elementwise import Elementwise
from edgec.schedules.tiled_reduction import TiledReduction


def default_rules() -> list:
    return [DotProductConv(), TiledReduction(), Elementwise(), dlight.cpu.Reduction(), dlight.cpu.GEMV()]


def mcu_rules() -> list:
    """Microcontrollers (the ``c`` target): no workspace before speed (``schedules/mcu.py``)."""
    from edgec.schedules.mcu import SmallFootprint

    return [SmallFootprint()]


# The rules for each TVM target kind (by function name, looked up when used); a kind not listed
# keeps TVM's kernels as they are.
RULES_BY_TARGET_KIND = {"llvm": "default_rules", "c": "mcu_rules"}


def rules_for(target) -> list | None:
    name = RULES_BY_TARGET_KIND.get(target.kind.name)
    return globals()[name]() if name is not None else None


@dataclasses.dataclass
class RuleChoice:
    """The schedule the rules gave one kernel, and the rules that failed on it first."""

    schedule: object | None           # a traced ``s_tir.Schedule``, or None: no rule applies
    rule: str | None = None           # the rule that made ``schedule``
    failures: list[str] = dataclasses.field(default_factory=list)  # "Rule: error" per failure


def has_opaque_blocks(func) -> bool:
    """Whether a PrimFunc has a block (other than the root) that declares no reads and no
    writes: its accesses are hidden from the scheduler."""
    from tvm import s_tir

    try:
        sch = s_tir.Schedule(func)
        stack = list(sch.get_child_blocks(sch.get_sblock("root")))
    except Exception:  # noqa: BLE001 - not a schedulable function: the rules will say so
        return False
    while stack:
        block_rv = stack.pop()
        block = sch.get(block_rv)
        if not block.reads and not block.writes:
            return True
        stack.extend(sch.get_child_blocks(block_rv))
    return False


def has_local_variables(func) -> bool:
    """Whether a PrimFunc's body allocates a buffer or binds a value anywhere inside."""
    from tvm import tirx

    stack = [func.body]
    local = tuple(getattr(tirx, n) for n in ("LetStmt", "Bind", "AllocBuffer") if hasattr(tirx, n))
    while stack:
        stmt = stack.pop()
        if isinstance(stmt, local):
            return True
        if isinstance(stmt, tirx.SeqStmt):
            stack.extend(stmt.seq)
            continue
        for field in ("body", "then_case", "else_case", "block"):
            child = getattr(stmt, field, None)
            if isinstance(child, tirx.Stmt):
                stack.append(child)
    return False


def choose_schedule(func, target, rules: list | None = None) -> RuleChoice:
    """Try ``rules`` (default: :func:`default_rules`) in order on one PrimFunc."""
    choice = RuleChoice(schedule=None)
    if has_opaque_blocks(func):
        choice.failures.append("opaque blocks (extern calls or IR-builder code): kept as is")
        return choice
    if has_local_variables(func):
        choice.failures.append("local variables in its blocks: kept as is")
        return choice
    for rule in default_rules() if rules is None else rules:
        name = type(rule).__name__
        try:
            sch = rule.apply(func, target, False)
        except Exception as err:  # noqa: BLE001 - a failing rule leaves the kernel to the next
            text = str(err).strip()
            choice.failures.append(f"{name}: {type(err).__name__}: "
                                   f"{text.splitlines()[-1] if text else ''}")
            continue
        if isinstance(sch, list):
            sch = sch[0] if sch else None
        if sch is not None:
            choice.schedule, choice.rule = sch, name
            return choice
    return choice


def default_schedule(func, target):
    """The first rule's schedule of one PrimFunc (a traced ``s_tir.Schedule``), or None."""
    return choose_schedule(func, target).schedule
