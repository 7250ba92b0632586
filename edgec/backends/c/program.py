"""The Relax ``main`` of a module through the pipeline (``backend="c"``) as a flat program: the
kernel calls in order, over tensors that are model inputs, model outputs, constants (flash), or
intermediates (the arena); reshapes are views of the tensor they reshape.

After ``RewriteDataflowReshape`` / ``ToNonDataflow`` the function is a list of bindings:
``call_tir(kernel, (args...), out)`` (one or several outputs), ``reshape`` (a view),
``TupleGetItem`` of a multi-output call, and a ``Tuple`` of the outputs. Anything else (a
packed runtime call, a symbolic shape) has no place on a microcontroller and is refused by name.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tvm
from tvm import relax

from edgec.errors import UnsupportedModelError
from edgec.passes.bindings import constant_array

INPUT, OUTPUT, CONST, ARENA = "input", "output", "const", "arena"


@dataclasses.dataclass
class Tensor:
    index: int
    shape: tuple[int, ...]
    dtype: str
    role: str = ARENA             # input | output | const | arena (of the root tensor)
    base: int | None = None       # a view: the tensor whose memory it is
    name: str = ""                # inputs and outputs: the model's name for it
    value: np.ndarray | None = None  # constants
    producer: int | None = None   # the call writing it
    last_use: int = -1            # the last call reading it (views count for their base)
    position: int = -1            # role output: which model output's buffer it lives in

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * dtype_bytes(self.dtype)


@dataclasses.dataclass
class Call:
    index: int
    kernel: str
    args: list[int]               # tensors read, then tensors written
    num_outputs: int


@dataclasses.dataclass
class Program:
    tensors: list[Tensor]
    calls: list[Call]
    inputs: list[int]             # tensor per model input, in order
    outputs: list[int]            # tensor per model output, in order (may repeat, may be views)

    def root(self, index: int) -> Tensor:
        tensor = self.tensors[index]
        while tensor.base is not None:
            tensor = self.tensors[tensor.base]
        return tensor

    def written_in_place(self, position: int) -> bool:
        """Whether model output ``position`` is computed straight into the caller's buffer
        (else it is copied there after the last kernel)."""
        root = self.root(self.outputs[position])
        return root.role == OUTPUT and root.position == position


def dtype_bytes(dtype: str) -> int:
    if dtype == "bool":
        return 1
    bits = tvm.DataType(dtype).bits
    return max(1, bits // 8)


def build_program(mod: tvm.IRModule, input_names: list[str], output_names: list[str]
                  ) -> Program:
    func = mod["main"]
    tensors: list[Tensor] = []
    calls: list[Call] = []
    values: dict[relax.Var, object] = {}  # var -> tensor index, or a tuple of them
    constants: dict[int, int] = {}

    def new(sinfo, **kw) -> int:
        shape, dtype = _static(sinfo)
        tensors.append(Tensor(len(tensors), shape, dtype, **kw))
        return len(tensors) - 1

    def tensor_of(expr) -> int:
        if isinstance(expr, relax.Var):
            value = values.get(expr)
            if isinstance(value, int):
                return value
            raise UnsupportedModelError(f"the C back end cannot pass '{expr.name}' (a tuple) to a "
                               "kernel")
        value = constant_array(expr)
        if value is not None:
            key = expr.__chandle__()  # the object, not its Python wrapper (ids get reused)
            if key not in constants:
                constants[key] = new(expr.ty, role=CONST, value=value)
            return constants[key]
        raise UnsupportedModelError(f"the C back end cannot pass {type(expr).__name__} to a kernel")

    for param, name in zip(func.params, input_names):
        values[param] = new(param.ty, role=INPUT, name=name)
    inputs = [values[p] for p in func.params]

    body = func.body
    for block in body.blocks:
        for binding in block.bindings:
            var, value = binding.var, binding.value
            if isinstance(value, relax.Call) and value.op == tvm.ir.Op.get("relax.call_tir"):
                values[var] = _call_tir(value, tensors, calls, tensor_of, new)
            elif isinstance(value, relax.Call) and value.op == tvm.ir.Op.get("relax.reshape"):
                base = tensor_of(value.args[0])
                values[var] = new(var.ty, base=base)
            elif isinstance(value, relax.TupleGetItem):
                values[var] = values[value.tuple_value][value.index]
            elif isinstance(value, relax.Tuple):
                values[var] = tuple(tensor_of(f) for f in value.fields)
            elif isinstance(value, relax.Var) or constant_array(value) is not None:
                values[var] = tensor_of(value)
            else:
                what = value.op.name if isinstance(value, relax.Call) and \
                    isinstance(value.op, tvm.ir.Op) else type(value).__name__
                raise UnsupportedModelError(
                    f"the microcontroller back end cannot run '{what}' (binding "
                    f"'{var.name}'): it runs kernels on static shapes only; compile for "
                    "a Linux board, or remove the operator from the model")
    result = body.body
    if isinstance(result, relax.Tuple):
        outputs = [tensor_of(f) for f in result.fields]
    elif isinstance(result, relax.Var) and isinstance(values.get(result), tuple):
        outputs = list(values[result])
    else:
        outputs = [tensor_of(result)]
    program = Program(tensors, calls, inputs, outputs)
    _check_dtypes(program)
    _mark_outputs(program, output_names)
    _lifetimes(program)
    return program


def _call_tir(call, tensors, calls, tensor_of, new):
    kernel = call.args[0]
    if len(call.args) > 2 and call.args[2] is not None:
        raise UnsupportedModelError(f"kernel '{kernel.name_hint}' takes symbolic shape values: the C "
                           "back end needs static shapes (fix them with --input-shape)")
    args = [tensor_of(a) for a in call.args[1].fields]
    sinfo = call.ty_args[0]
    outs = sinfo.fields if isinstance(sinfo, relax.TupleType) else [sinfo]
    written = [new(s) for s in outs]
    index = len(calls)
    for w in written:
        tensors[w].producer = index
    calls.append(Call(index, kernel.name_hint, args + written, len(written)))
    return tuple(written) if isinstance(sinfo, relax.TupleType) else written[0]


def _static(sinfo) -> tuple[tuple[int, ...], str]:
    if not isinstance(sinfo, relax.TensorType) or sinfo.shape is None:
        raise UnsupportedModelError(f"the C back end needs tensors of known shape, got {sinfo}")
    dims = []
    for dim in sinfo.shape.values:
        if not isinstance(dim, tvm.tirx.IntImm):
            raise UnsupportedModelError(
                f"a tensor of shape {list(sinfo.shape.values)} has a symbolic dimension: the C "
                "back end needs static shapes (give them with --input-shape)")
        dims.append(int(dim))
    return tuple(dims), str(sinfo.dtype)


# Types a Cortex-M kernel cannot compute in portable C (TVM writes float16 as a type named
# ``half`` that C does not have; arm-none-eabi-gcc's __fp16 needs target flags).
_UNSUPPORTED_DTYPES = ("float16", "bfloat16")


def _check_dtypes(program: Program) -> None:
    for tensor in program.tensors:
        if tensor.dtype in _UNSUPPORTED_DTYPES:
            where = f"input '{tensor.name}'" if tensor.role == INPUT else \
                f"output '{tensor.name}'" if tensor.name else "a tensor"
            raise UnsupportedModelError(
                f"{where} is {tensor.dtype}: the microcontroller back end computes in float32 "
                "and integers (int8 for quantized models); convert the model to float32 (or "
                "quantize it, --quantize int8)")


def _mark_outputs(program: Program, names: list[str]) -> None:
    """An output computed by a kernel is written straight into the caller's buffer: its root
    tensor takes the output role (unless it is an input or a constant, or another output
    already took it: those are copied at the end)."""
    for position, index in enumerate(program.outputs):
        tensor = program.tensors[index]
        if position < len(names):
            tensor.name = tensor.name or names[position]
        root = program.root(index)
        if root.role == ARENA and tensor.nbytes == root.nbytes:
            root.role, root.position = OUTPUT, position


def _lifetimes(program: Program) -> None:
    """Each root tensor's last reading call; an output copied into its buffer at the end is
    read after the last kernel (call ``len(calls)``)."""
    for position, index in enumerate(program.outputs):
        if not program.written_in_place(position):
            root = program.root(index)
            root.last_use = max(root.last_use, len(program.calls))
    for call in program.calls:
        for arg in call.args[:len(call.args) - call.num_outputs]:
            root = program.root(arg)
            root.last_use = max(root.last_use, call.index)
    for tensor in program.tensors:
        if tensor.base is None and tensor.producer is not None:
            tensor.last_use = max(tensor.last_use, tensor.producer)
