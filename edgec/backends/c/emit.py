"""``model.c`` and ``model.h``: the kernels, the weights as ``const`` arrays (flash), and a driver
that binds each kernel's tensors (inputs, outputs, weights, arena offsets) to static
descriptors and calls the kernels in order. No heap, no globals written but the workspace
cursor of kernels that ask for scratch, no runtime.
"""

from __future__ import annotations

import dataclasses
import keyword
import re

import numpy as np

from edgec.backends.c.arena import ALIGN, Plan
from edgec.backends.c.kernels import Kernels
from edgec.backends.c.program import ARENA, CONST, INPUT, OUTPUT, Program

C_TYPES = {"float32": "float", "float64": "double", "int8": "int8_t", "uint8": "uint8_t",
           "int16": "int16_t", "uint16": "uint16_t", "int32": "int32_t", "uint32": "uint32_t",
           "int64": "int64_t", "uint64": "uint64_t", "bool": "uint8_t", "float16": "uint16_t",
           "bfloat16": "uint16_t"}
_DL_CODES = {"int": 0, "uint": 1, "float": 2, "bfloat": 4, "bool": 6}
_C_KEYWORDS = set("auto break case char const continue default do double else enum extern "
                  "float for goto if inline int long register restrict return short signed "
                  "sizeof static struct switch typedef union unsigned void volatile while "
                  "bool arena".split()) | set(keyword.kwlist)

_PREAMBLE = """\
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
{math}
/* The tensor descriptors the kernels read (the fields they use of DLPack's DLTensor and of
 * tvm-ffi's argument cell). */
typedef struct {{
  int32_t device_type;
  int32_t device_id;
}} DLDevice;
typedef struct {{
  uint8_t code;
  uint8_t bits;
  uint16_t lanes;
}} DLDataType;
typedef struct {{
  void *data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t *shape;
  int64_t *strides;
  uint64_t byte_offset;
}} DLTensor;
typedef struct {{
  int32_t type_index;
  uint32_t zero_padding;
  union {{
    int64_t v_int64;
    double v_float64;
    void *v_ptr;
  }};
}} TVMFFIAny;
"""

_WORKSPACE = """
/* Scratch for kernels that need it: a stack inside the arena region the driver reserved for
 * the kernel being called (sizes planned at compile time). */
static uint8_t *{p}scratch;
static uint8_t *{p}scratch_end;
static void *TVMBackendAllocWorkspace(int device_type, int device_id, uint64_t nbytes,
                                      int dtype_code_hint, int dtype_bits_hint) {{
  uint8_t *block = {p}scratch;
  uint64_t need = (nbytes + {align}u) & ~(uint64_t){align}u;
  (void)device_type;
  (void)device_id;
  (void)dtype_code_hint;
  (void)dtype_bits_hint;
  if (need > (uint64_t)({p}scratch_end - block)) return NULL;
  {p}scratch = block + need;
  return block;
}}
static int TVMBackendFreeWorkspace(int device_type, int device_id, void *ptr) {{
  (void)device_type;
  (void)device_id;
  {p}scratch = (uint8_t *)ptr; /* requests are freed last-in, first-out */
  return 0;
}}
"""


@dataclasses.dataclass
class Sources:
    model_c: str
    model_h: str
    function: str         # the run function's name
    arena_macro: str


def c_identifier(name: str) -> str:
    ident = re.sub(r"\W", "_", name).strip("_") or "x"
    if ident[0].isdigit() or ident in _C_KEYWORDS:
        ident = "x_" + ident
    return ident


def emit(program: Program, kernels: Kernels, plan: Plan, scratch: dict[int, int],
         model_name: str, prefix: str, describe: str, flags: str = "") -> Sources:
    upper = prefix.upper()
    params = _params(program)
    function = f"{prefix}run"
    arena_macro = f"{upper}ARENA_BYTES"
    signature = f"int32_t {function}({', '.join(p.decl for p in params)}, void *arena)"

    built = f"\n * Measured (flash, RAM, instructions) as compiled with: {flags}" if flags else ""
    header = [f"/* {describe}{built} */",
              f"#ifndef {upper}H_", f"#define {upper}H_", "", "#include <stdint.h>", "",
              "#ifdef __cplusplus", 'extern "C" {', "#endif", "",
              f"/* The one block of RAM the model needs ({ALIGN}-byte aligned): every "
              "intermediate tensor and kernel scratch. */",
              f"#define {arena_macro} {plan.size}u", f"#define {upper}ARENA_ALIGN {ALIGN}u", ""]
    header.append("/* Inputs and outputs: element counts, and where each may live inside the "
                  "arena (a caller that")
    header.append(" * keeps them there needs no other RAM for them; an input kept there is "
                  "overwritten by the run). */")
    for position, param in enumerate(params):
        header.append(f"/* {param.role} '{param.tensor_name}': {param.dtype}"
                      f"[{','.join(map(str, param.shape))}] */")
        header.append(f"#define {upper}{param.ident.upper()}_ELEMENTS {param.elements}u")
        key = ("input", program.inputs[position]) if param.role == "input" else \
            ("output", position - len(program.inputs))
        header.append(f"#define {upper}{param.ident.upper()}_OFFSET {plan.offsets[key]}u")
    header += ["",
               f"/* Runs {model_name} once. Inputs and outputs are dense, row-major arrays "
               "(in the arena at their",
               f" * _OFFSET, or anywhere else); arena is caller-owned RAM of {arena_macro} "
               f"bytes aligned to {upper}ARENA_ALIGN",
               " * (its contents need not be kept between calls).",
               " * Returns 0, or non-zero if the arena is misaligned or a kernel failed. Not "
               "reentrant. */",
               signature + ";", "", "#ifdef __cplusplus", "}", "#endif",
               f"#endif /* {upper}H_ */", ""]

    lines = [f"/* {describe} */", _PREAMBLE.format(math="#include <math.h>\n" if kernels.math
                                                   else ""),
             '#include "model.h"', ""]
    if kernels.workspace:
        lines.append(_WORKSPACE.format(p=prefix, align=ALIGN - 1))
    if kernels.dot_s8:
        from edgec.schedules.mcu_dot import C_SOURCE

        lines.append(C_SOURCE)
    if kernels.dot_f32:
        from edgec.schedules.mcu_dot import C_SOURCE_F32

        lines.append(C_SOURCE_F32)
    lines.append(kernels.source)
    lines += _weights(program, prefix)
    lines += _shapes_and_driver(program, kernels, plan, scratch, params, prefix, signature)
    return Sources(model_c="\n".join(lines), model_h="\n".join(header), function=function,
                   arena_macro=arena_macro)


@dataclasses.dataclass
class _Param:
    role: str
    tensor_name: str
    ident: str
    dtype: str
    shape: tuple[int, ...]
    elements: int
    decl: str


def _params(program: Program) -> list[_Param]:
    used: set[str] = set()
    params = []
    for role, indices in (("input", program.inputs), ("output", program.outputs)):
        for index in indices:
            tensor = program.tensors[index]
            ident = c_identifier(tensor.name or f"{role}{len(params)}")
            while ident in used:
                ident += "_"
            used.add(ident)
            ctype = C_TYPES.get(tensor.dtype)
            if ctype is None:
                from edgec.errors import UnsupportedModelError

                raise UnsupportedModelError(f"model {role} '{tensor.name}' is {tensor.dtype}: "
                                            "the C back end takes float, integer and bool "
                                            "tensors")
            const = "const " if role == "input" else ""
            params.append(_Param(role, tensor.name, ident, tensor.dtype, tensor.shape,
                                 int(np.prod(tensor.shape, dtype=np.int64)),
                                 f"{const}{ctype} *{ident}"))
    return params


def _weights(program: Program, prefix: str) -> list[str]:
    lines = ["", "/* Weights (const: placed in flash). */"]
    for tensor in program.tensors:
        if tensor.role != CONST or tensor.base is not None:
            continue
        ctype = C_TYPES.get(tensor.dtype)
        if ctype is None:
            from edgec.errors import UnsupportedModelError

            raise UnsupportedModelError(f"a constant of type {tensor.dtype}: the C back end "
                                        "stores float, integer and bool weights")
        flat = np.ascontiguousarray(tensor.value).reshape(-1)
        values = _literals(flat, tensor.dtype)
        count = max(1, flat.size)
        body = ",\n".join(", ".join(values[i:i + 12]) for i in range(0, len(values), 12))
        lines.append(f"static const {ctype} {prefix}w{tensor.index}[{count}] "
                     f"__attribute__((aligned({ALIGN}))) = {{\n{body or '0'}}};")
    return lines


def _literals(flat: np.ndarray, dtype: str) -> list[str]:
    if dtype == "float32":
        out = []
        for v in flat.astype(np.float32).tolist():
            if np.isfinite(v):
                text = repr(float(np.float32(v)))
                out.append(f"{text}f" if ("." in text or "e" in text) else f"{text}.0f")
            elif np.isnan(v):
                out.append("NAN")
            else:
                out.append("INFINITY" if v > 0 else "-INFINITY")
        return out
    if dtype == "float64":
        return [repr(float(v)) if np.isfinite(v) else ("NAN" if np.isnan(v) else
                ("INFINITY" if v > 0 else "-INFINITY")) for v in flat.tolist()]
    if dtype in ("float16", "bfloat16"):
        return [str(int(v)) for v in flat.view(np.uint16).tolist()]
    if dtype == "int64":
        return [f"INT64_C({int(v)})" for v in flat.tolist()]
    if dtype == "uint64":
        return [f"UINT64_C({int(v)})" for v in flat.tolist()]
    if dtype == "int32":
        return [f"(int32_t){int(v)}" if int(v) == -2**31 else str(int(v)) for v in flat.tolist()]
    return [str(int(v)) for v in flat.astype(np.int64).tolist()]


def _dl_type(dtype: str) -> tuple[int, int]:
    if dtype == "bool":
        return 6, 8
    match = re.fullmatch(r"([a-z]+?)(\d+)", dtype)
    assert match, dtype
    return _DL_CODES[match.group(1)], int(match.group(2))


def _shapes_and_driver(program: Program, kernels: Kernels, plan: Plan,
                       scratch: dict[int, int], params: list[_Param], prefix: str,
                       signature: str) -> list[str]:
    shapes: dict[tuple[int, ...], str] = {}
    lines = ["", "/* Tensor shapes, as the kernels read them. */"]
    for call in program.calls:
        for arg in call.args:
            shape = program.tensors[arg].shape
            if shape not in shapes:
                shapes[shape] = f"{prefix}s{len(shapes)}"
                dims = ", ".join(f"INT64_C({d})" for d in shape) or "INT64_C(0)"
                lines.append(f"static const int64_t {shapes[shape]}[{max(1, len(shape))}] = "
                             f"{{{dims}}};")
    input_ident = {program.inputs[i]: p.ident for i, p in enumerate(params[:len(program.inputs)])}
    outputs = params[len(program.inputs):]

    def pointer(index: int) -> str:
        root = program.root(index)
        if root.role == INPUT:
            return f"(void *){input_ident[root.index]}"
        if root.role == OUTPUT:
            return f"(void *){outputs[root.position].ident}"
        if root.role == CONST:
            return f"(void *){prefix}w{root.index}"
        return f"(void *)(mem + {plan.offsets[root.index]}u)"

    width = max((len(c.args) for c in program.calls), default=1)
    lines += ["", f"static void {prefix}bind(DLTensor *t, TVMFFIAny *a, void *data, "
              "const int64_t *shape, int32_t ndim,",
              f"{' ' * (len(prefix) + 17)}uint8_t code, uint8_t bits) {{",
              "  t->data = data;", "  t->device.device_type = 1; /* CPU */",
              "  t->device.device_id = 0;", "  t->ndim = ndim;", "  t->dtype.code = code;",
              "  t->dtype.bits = bits;", "  t->dtype.lanes = 1;",
              "  t->shape = (int64_t *)shape;", "  t->strides = NULL;", "  t->byte_offset = 0;",
              "  a->type_index = 7; /* a DLTensor pointer */", "  a->zero_padding = 0;",
              "  a->v_ptr = t;", "}", "", signature + " {"]
    uses_mem = any(program.root(a).role == ARENA for c in program.calls for a in c.args) or \
        bool(scratch)
    if uses_mem:
        lines.append("  uint8_t *mem = (uint8_t *)arena;")
    else:
        lines.append("  (void)arena;")
    if program.calls:
        lines += [f"  DLTensor t[{width}];", f"  TVMFFIAny a[{width}];"]
    lines += [f"  if (((uintptr_t)arena & {ALIGN - 1}u) != 0u) return -1;"]
    for call in program.calls:
        outs = ", ".join(_describe(program, i) for i in call.args[-call.num_outputs:])
        lines.append(f"  /* {call.index + 1}. {call.kernel} -> {outs} */")
        for slot, arg in enumerate(call.args):
            tensor = program.tensors[arg]
            code, bits = _dl_type(tensor.dtype)
            lines.append(f"  {prefix}bind(&t[{slot}], &a[{slot}], {pointer(arg)}, "
                         f"{shapes[tensor.shape]}, {len(tensor.shape)}, {code}u, {bits}u);")
        if call.index in scratch:
            start = plan.offsets[("scratch", call.index)]
            lines += [f"  {prefix}scratch = mem + {start}u;",
                      f"  {prefix}scratch_end = mem + {start + scratch[call.index]}u;"]
        lines.append(f"  if ({kernels.symbols[call.kernel]}(NULL, a, {len(call.args)}, NULL) "
                     f"!= 0) return {call.index + 1};")
    for position, index in enumerate(program.outputs):
        if program.written_in_place(position):
            continue
        lines.append(f"  memcpy({outputs[position].ident}, {pointer(index)}, "
                     f"{program.tensors[index].nbytes}u);")
    lines += ["  return 0;", "}", ""]
    return lines


def _describe(program: Program, index: int) -> str:
    tensor = program.tensors[index]
    root = program.root(index)
    where = {INPUT: "input", OUTPUT: "output", CONST: "flash"}.get(root.role, "arena")
    return f"{tensor.dtype}[{','.join(map(str, tensor.shape))}] ({where})"
