"""NarrowKernelBoundaries: move elementwise steps across a fused-kernel boundary so that the
tensor stored between two kernels is the narrowest one on the way.

TVM's FuseOps ends a kernel wherever its rules stop, which on a quantized model is often at a
wide tensor. Two shapes of it, both seen on the MLPerf Tiny int8 models:

1. widened tail: a kernel computes an int8 result and then widens it for its consumer
   (``... -> int8 -> float32 * scale``, the dequantized shortcut of a residual add): the
   float32 tensor, four times the int8 one, is stored. Here the tail after the narrowest
   tensor moves into the consuming kernel, which reads the int8 tensor and widens it itself.
2. bare reduction: a convolution or matmul whose int32 result goes through a reshape before
   its requantization epilogue (a fully connected layer imported as a 1x1 convolution): FuseOps
   does not fuse through the reshape, so the int32 accumulator tensor is stored. Here the
   reduction moves into the epilogue's kernel, which then only stores the int8 result.

Each move needs the moved tensor used by that one consumer kernel, and only elementwise (or,
for 2, injective) steps in the moved part, so no value is computed twice. Runs after FuseOps,
before FuseTIR, for the C back end (microcontrollers), where every stored tensor is arena RAM;
the values are unchanged.
"""

from __future__ import annotations

import logging

import numpy as np
import tvm
from tvm import relax

from edgec.passes.rewrite_log import record

logger = logging.getLogger(__name__)

_ELEMWISE, _BROADCAST, _INJECTIVE, _COMM_REDUCE, _OUT_EWISE = 0, 1, 2, 3, 4
_ROUNDS = 16


def _pattern(mod: tvm.IRModule, gvar) -> int:
    func = mod[gvar]
    value = func.attrs.get("op_pattern") if func.attrs is not None else None
    return int(value) if value is not None else 8


def _bytes(ty) -> int | None:
    shape = getattr(ty, "shape", None)
    if shape is None or not hasattr(shape, "values"):
        return None
    try:
        dims = [int(d) for d in shape.values]
    except TypeError:
        return None
    return int(np.prod(dims, dtype=np.int64)) * max(1, tvm.DataType(str(ty.dtype)).bits // 8)


def _is_group(mod: tvm.IRModule, value) -> bool:
    return isinstance(value, relax.Call) and isinstance(value.op, tvm.ir.GlobalVar) and \
        isinstance(mod[value.op], relax.Function) and mod[value.op].attrs is not None and \
        bool(mod[value.op].attrs.get("Primitive", False))


def _call_tir_parts(value):
    """(PrimFunc gvar, args, out type) of a ``call_tir``, or None."""
    if isinstance(value, relax.Call) and value.op == tvm.ir.Op.get("relax.call_tir"):
        return value.args[0], list(value.args[1].fields), value.ty_args[0]
    return None


def _uses(func: relax.Function) -> dict:
    counts: dict = {}

    def visit(expr):
        if isinstance(expr, relax.Var):
            counts[expr] = counts.get(expr, 0) + 1

    relax.analysis.post_order_visit(func.body, visit)
    return counts


def _bindings(func: relax.Function) -> list:
    return [b for block in func.body.blocks for b in block.bindings]


def _build_group(builder: relax.BlockBuilder, name: str, params: list, steps: list) -> tvm.ir.GlobalVar:
    """A Primitive Relax function: ``steps`` are (var to define, call_tir parts) over
    ``params`` (relax Vars); returns its GlobalVar (added to the builder's module)."""
    new_params = [relax.Var(p.name, p.ty) for p in params]
    env = dict(zip(params, new_params))
    inner = relax.BlockBuilder()
    with inner.function(name, new_params, attrs={"Primitive": True}, private=True):
        with inner.dataflow():
            last = None
            for index, (var, (gvar, args, out_ty)) in enumerate(steps):
                call = relax.call_tir(gvar, [env.get(a, a) for a in args], out_ty)
                last = inner.emit_output(call) if index == len(steps) - 1 else inner.emit(call)
                env[var] = last
        inner.emit_func_output(last)
    func = inner.get()[name]
    return builder.add_func(func, name)


def _group_steps(func: relax.Function):
    steps = []
    for binding in _bindings(func):
        parts = _call_tir_parts(binding.value)
        if parts is None:
            return None
        steps.append((binding.var, parts))
    return steps


def _consumer_group(mod, main_bindings, index):
    """The one grouped kernel that reads binding ``index``'s value, as (its binding's index,
    the call, the group function, the argument position), or None."""
    var = main_bindings[index].var
    at = next((i for i in range(index + 1, len(main_bindings))
               if _mentions(main_bindings[i].value, var)), None)
    if at is None or not _is_group(mod, main_bindings[at].value):
        return None
    call = main_bindings[at].value
    positions = [i for i, a in enumerate(call.args) if a.same_as(var)]
    if len(positions) != 1:
        return None
    return at, call, mod[call.op], positions[0]


def _narrow_tail(mod, builder, main_bindings, index, uses_main):
    """Case 1: the producer group's tail after its narrowest tensor moves into its consumer."""
    binding = main_bindings[index]
    if not _is_group(mod, binding.value) or uses_main.get(binding.var, 0) != 1:
        return None
    found = _consumer_group(mod, main_bindings, index)
    if found is None:
        return None
    consumer_at, consumer_call, consumer, position = found
    producer = mod[binding.value.op]
    steps = _group_steps(producer)
    if not steps or not producer.body.body.same_as(steps[-1][0]):
        return None
    uses = _uses(producer)
    # walk back the elementwise tail: each step reads the previous step's var, once
    narrowest, best = None, _bytes(steps[-1][1][2])
    for pos in range(len(steps) - 1, 0, -1):
        _, (gvar, args, _) = steps[pos]
        prev_var = steps[pos - 1][0]
        if _pattern(mod, gvar) > _BROADCAST or prev_var not in args or \
                uses.get(prev_var, 0) != 1 or any(isinstance(a, relax.Var) and a not in
                                                  producer.params and not a.same_as(prev_var)
                                                  for a in args):
            break
        size = _bytes(steps[pos - 1][1][2])
        if size is not None and best is not None and size < best:
            narrowest, best = pos - 1, size
    if narrowest is None:
        return None
    keep, moved = steps[:narrowest + 1], steps[narrowest + 1:]
    cut_var = steps[narrowest][0]
    # producer: its params, the kept steps
    new_producer = _build_group(builder, "fused_head", list(producer.params), keep)
    # consumer: takes the narrow tensor (and the tail's params) instead of the wide one
    tail_params = []
    for _, (_, args, _) in moved:
        for a in args:
            if isinstance(a, relax.Var) and a in producer.params and a not in tail_params:
                tail_params.append(a)
    cut_param = relax.Var("narrow", steps[narrowest][1][2])
    tail_param_vars = [relax.Var(p.name, p.ty) for p in tail_params]
    c_steps = _group_steps(consumer)
    if c_steps is None:
        return None
    wide_param = consumer.params[position]
    env = {cut_var: cut_param, **dict(zip(tail_params, tail_param_vars))}
    renamed_tail = [(var, (g, [env.get(a, a) for a in args], ty)) for var, (g, args, ty) in moved]
    # the tail's last var stands for the wide parameter in the consumer's steps
    last_tail_var = moved[-1][0]
    c_steps = [(var, (g, [last_tail_var if a.same_as(wide_param) else a for a in args], ty))
               for var, (g, args, ty) in c_steps]
    other_params = [p for i, p in enumerate(consumer.params) if i != position]
    new_consumer = _build_group(builder, "fused_tail", [cut_param, *tail_param_vars,
                                                       *other_params],
                                renamed_tail + c_steps)
    producer_args = list(binding.value.args)
    arg_of = dict(zip(producer.params, producer_args))
    narrow_var = relax.Var(binding.var.name, steps[narrowest][1][2]) \
        if not isinstance(binding.var, relax.DataflowVar) else \
        relax.DataflowVar(binding.var.name, steps[narrowest][1][2])
    consumer_args = [narrow_var, *[arg_of[p] for p in tail_params],
                     *[a for i, a in enumerate(consumer_call.args) if i != position]]
    return {index: relax.VarBinding(narrow_var, relax.Call(new_producer, producer_args)),
            consumer_at: relax.VarBinding(main_bindings[consumer_at].var,
                                          relax.Call(new_consumer, consumer_args))}


def _mentions(expr, var) -> bool:
    found = [False]

    def visit(e):
        if isinstance(e, relax.Var) and e.same_as(var):
            found[0] = True

    relax.analysis.post_order_visit(expr, visit)
    return found[0]


def _bare_reduction(mod, builder, main_bindings, index, uses_main):
    """Case 2: a lone reduction kernel moves into the injective epilogue group after it."""
    binding = main_bindings[index]
    parts = _call_tir_parts(binding.value)
    if parts is None or uses_main.get(binding.var, 0) != 1:
        return None
    gvar, args, out_ty = parts
    if _pattern(mod, gvar) not in (_COMM_REDUCE, _OUT_EWISE):
        return None
    found = _consumer_group(mod, main_bindings, index)
    if found is None:
        return None
    consumer_at, consumer_call, consumer, position = found
    c_steps = _group_steps(consumer)
    if c_steps is None or any(_pattern(mod, g) > _INJECTIVE for _, (g, _, _) in c_steps):
        return None
    wide, narrow = _bytes(out_ty), _bytes(consumer.ret_ty)
    if wide is None or narrow is None or narrow >= wide:
        return None
    wide_param = consumer.params[position]
    kernel_params = [relax.Var(f"k{i}", a.ty) for i, a in enumerate(args)]
    reduced = relax.Var("reduced", out_ty)
    steps = [(reduced, (gvar, kernel_params, out_ty))]
    steps += [(var, (g, [reduced if a.same_as(wide_param) else a for a in a_args], ty))
              for var, (g, a_args, ty) in c_steps]
    other_params = [p for i, p in enumerate(consumer.params) if i != position]
    new_group = _build_group(builder, "fused_reduction", [*kernel_params, *other_params], steps)
    new_args = [*args, *[a for i, a in enumerate(consumer_call.args) if i != position]]
    return {index: None,
            consumer_at: relax.VarBinding(main_bindings[consumer_at].var,
                                          relax.Call(new_group, new_args))}


@tvm.transform.module_pass(opt_level=0, name="NarrowKernelBoundaries")
class NarrowKernelBoundaries:
    """See the module docstring."""

    def transform_module(self, mod: tvm.IRModule, _ctx) -> tvm.IRModule:
        changed = False
        for _ in range(_ROUNDS):
            moved = self._one_move(mod)
            if moved is None:
                break
            mod, label = moved
            record(label)
            changed = True
        if not changed:
            return mod
        return relax.transform.DeadCodeElimination()(mod)

    def _one_move(self, mod: tvm.IRModule):
        main = mod["main"]
        if not isinstance(main.body, relax.SeqExpr) or len(main.body.blocks) != 1:
            return None
        main_bindings = list(main.body.blocks[0].bindings)
        uses_main = _uses(main)
        for index in range(len(main_bindings)):
            for move, label in ((_narrow_tail, "widening tail moved to its consumer kernel"),
                                (_bare_reduction, "reduction moved into its epilogue kernel")):
                builder = relax.BlockBuilder(mod)
                try:
                    edits = move(mod, builder, main_bindings, index, uses_main)
                except Exception as err:  # noqa: BLE001 - an unforeseen shape: leave it be
                    logger.info("kernel boundary at binding %d left as is: %s: %s", index,
                                type(err).__name__, err)
                    edits = None
                if edits is None:
                    continue
                new_mod = builder.get()
                bindings = [edits.get(i, b) for i, b in enumerate(main_bindings)]
                bindings = [b for b in bindings if b is not None]  # None: binding removed
                block = main.body.blocks[0]
                new_block = (relax.DataflowBlock if isinstance(block, relax.DataflowBlock)
                             else relax.BindingBlock)(bindings)
                new_main = relax.Function(main.params, relax.SeqExpr([new_block], main.body.body),
                                          main.ret_ty, main.is_pure, main.attrs)
                new_mod["main"] = new_main
                return new_mod, label
        return None
