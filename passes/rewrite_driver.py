"""The loop every pattern-rewriting pass runs: rewrite each Relax function in rounds until a
round changes nothing, then put the changed functions in a copy of the module and drop dead
bindings. The input module is never modified."""

from __future__ import annotations

from collections.abc import Callable

import tvm
from tvm import relax

RoundFn = Callable[[relax.Function], tuple[relax.Function, int]]


def rewrite_until_stable(mod: tvm.IRModule, one_round: RoundFn, max_rounds: int) -> tvm.IRModule:
    """``one_round(func) -> (func, rewrites)``, repeated per function while it rewrites."""
    updates = {}
    for gvar, func in mod.functions_items():
        if not isinstance(func, relax.Function):
            continue
        changed = False
        for _ in range(max_rounds):
            func, count = one_round(func)
            if not count:
                break
            changed = True
        if changed:
            updates[gvar] = func
    if not updates:
        return mod
    mod = mod.clone()
    for gvar, func in updates.items():
        mod[gvar] = func
    return relax.transform.DeadCodeElimination()(mod)


def mutate_functions(mod: tvm.IRModule, mutator) -> tvm.IRModule:
    """Run a ``PyExprMutator`` (built over ``mod``) on every Relax function of ``mod``; the
    mutated module, or ``mod`` itself when the mutator counted no rewrite (its ``count``)."""
    for gvar, func in list(mod.functions.items()):
        if isinstance(func, relax.Function):
            mutator.builder_.update_func(gvar, mutator.visit_expr(func))
    return mutator.builder_.get() if mutator.count else mod
