"""The kernels as C: TVM's ``c`` code generator, asserts off, made self-contained.

TVM writes each kernel as a packed function ``int32_t __tvm_ffi_<name>(void *self, void *args,
int32_t num_args, void *result)`` reading ``DLTensor``s out of ``TVMFFIAny`` arguments, and
includes TVM's headers for those types. Here the includes are replaced by the few declarations
the kernels use (written in ``emit``), the kernels become ``static`` functions named for the
model, and each kernel's workspace requests (constant sizes, for static shapes) are read off
so the arena can hold them.
"""

from __future__ import annotations

import dataclasses
import re

import tvm

from edgec.backends.c import intrinsics  # noqa: F401  (registers the C math lowering)
from edgec.errors import InternalError, UnsupportedModelError
from edgec.schedules.mcu_dot import DOT_F32, DOT_S8

_PREFIX = "__tvm_ffi_"
_WORKSPACE = re.compile(r"TVMBackendAllocWorkspace\(1, dev_id, \(uint64_t\)(\d+)ULL")
_FUNCTION = re.compile(r"^TVM_DLL int32_t " + _PREFIX + r"(\w+)\(", re.M)


@dataclasses.dataclass
class Kernels:
    source: str                     # the kernels' C, without includes
    symbols: dict[str, str]         # kernel name -> C function name
    workspace: dict[str, list[int]]  # kernel name -> its workspace requests (bytes, in order)
    math: bool                      # whether it calls <math.h>
    dot_s8: bool = False            # whether it calls edgec_dot_s8 (emit defines it)
    dot_f32: bool = False           # ... edgec_dot_f32


def generate(mod: tvm.IRModule, target: tvm.target.Target, prefix: str,
             called: set[str]) -> Kernels:
    funcs = {gvar.name_hint: func.with_attr("global_symbol", gvar.name_hint)
             for gvar, func in mod.functions_items()
             if isinstance(func, tvm.tirx.PrimFunc) and gvar.name_hint in called}
    if not funcs:  # a model that only copies and reshapes: no kernels at all
        return Kernels(source="", symbols={}, workspace={}, math=False)
    tir = tvm.IRModule({name: func for name, func in funcs.items()})
    try:
        with tvm.transform.PassContext(opt_level=3, config={"tirx.disable_assert": True}):
            lib = tvm.tirx.build(tir, target=target)
    except Exception as err:  # noqa: BLE001 - a TVM failure is a bug, reported as one
        text = str(err).strip()
        raise InternalError("TVM's C code generation failed: " +
                            (text.splitlines()[-1] if text else type(err).__name__)) from err
    source = lib.inspect_source()
    _refuse_runtime_calls(source)
    symbols = {name: f"{prefix}k_{name}" for name in funcs}
    return Kernels(source=_self_contained(source, symbols), symbols=symbols,
                   workspace=_workspace(source), math="<math.h>" in source,
                   dot_s8=f"{DOT_S8}(" in source, dot_f32=f"{DOT_F32}(" in source)


_RUNTIME_CALL = re.compile(r'TVMFFIEnvModLookupFromImports\([^,]*, "([^"]+)"')


def _kernel_spans(source: str):
    """(kernel name, start, end) of each kernel's text in TVM's C, in order."""
    starts = [(m.start(), m.group(1)) for m in _FUNCTION.finditer(source)]
    for i, (start, name) in enumerate(starts):
        yield name, start, starts[i + 1][0] if i + 1 < len(starts) else len(source)


def _refuse_runtime_calls(source: str) -> None:
    """A kernel that calls a function of TVM's runtime (sort, top-k, non-maximum suppression
    are TVM library calls, not generated loops) cannot run where there is no runtime."""
    for name, start, end in _kernel_spans(source):
        called = _RUNTIME_CALL.search(source, start, end)
        if called:
            raise UnsupportedModelError(
                f"kernel '{name}' calls TVM's runtime function '{called.group(1)}' (operators "
                "such as TopK, sorting and non-maximum suppression run as runtime calls): a "
                "microcontroller has no TVM runtime; compile for a Linux board, or take the "
                "operator out of the model")


def _workspace(source: str) -> dict[str, list[int]]:
    requests: dict[str, list[int]] = {}
    for name, start, end in _kernel_spans(source):
        sizes = [int(n) for n in _WORKSPACE.findall(source, start, end)]
        if sizes:
            requests.setdefault(name, []).extend(sizes)
    return requests


def _self_contained(source: str, symbols: dict[str, str]) -> str:
    lines = []
    for line in source.splitlines():
        if line.startswith(("#include", "#define TVM_EXPORTS", "// tvm target:")):
            continue
        if line.startswith("void* __tvm_ffi__library_ctx"):
            continue
        lines.append(line)
    text = "\n".join(lines)
    text = re.sub(r'#ifdef __cplusplus\nextern "C"\n#endif\n', "", text)
    # a module of one kernel gets a "main" alias for it (a runtime's entry point): unused here
    text = re.sub(r"// CodegenC: NOTE: Auto-generated entry function\n.*?\n}(\n|$)", "", text,
                  flags=re.S)
    # declarations of functions that are not kernels (fmaf, expf: <math.h> has them;
    # edgec_dot_s8, edgec_dot_f32: emit defines them)
    text = re.sub(r"^TVM_DLL (?![^\n]*\b" + _PREFIX + r")[^\n]*\);\n", "", text, flags=re.M)
    for name, symbol in sorted(symbols.items(), key=lambda kv: -len(kv[0])):
        text = re.sub(rf"\b{_PREFIX}{re.escape(name)}\b", symbol, text)
    text = text.replace("TVM_DLL int32_t", "static int32_t")
    return _without_unused(text).strip() + "\n"


_DEFINITION = re.compile(r"^static int32_t \w+\(void\* self_handle, void\* args, "
                         r"int32_t num_args, void\* result\) \{$", re.M)
_DECLARATION = re.compile(r"^  [\w ]*?\w\** (\w+) = ([^;]*);$", re.M)
_EMPTY_IF = re.compile(r"^  if \(!\(\w+ == NULL\)\) \{\n  \}\n", re.M)
_CALL = re.compile(r"[A-Za-z_]\w*\s*\(")


def _without_unused(text: str) -> str:
    """What a warning-free build (``-Wall -Wextra``) needs of TVM's kernels: the packed
    signature's unused parameters marked as such, and the locals it declares but never reads
    (shape and stride pointers, device ids, with asserts off) removed; only declarations whose
    value has no call in it are removed."""
    pieces, last = [], 0
    bounds = [m.end() for m in _DEFINITION.finditer(text)]
    for i, start in enumerate(bounds):
        end = text.find("\n}\n", start)
        end = len(text) if end < 0 else end
        pieces.append(text[last:start])
        pieces.append("\n  (void)self_handle;\n  (void)num_args;\n  (void)result;")
        pieces.append(_drop_dead_locals(text[start:end]))
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def _drop_dead_locals(body: str) -> str:
    body = _EMPTY_IF.sub("", body)  # what is left of the stride asserts
    while True:
        dead = [m for m in _DECLARATION.finditer(body)
                if not _CALL.search(m.group(2))
                and len(re.findall(rf"\b{re.escape(m.group(1))}\b", body)) == 1]
        if not dead:
            return body
        for m in reversed(dead):
            body = body[:m.start()] + body[m.end() + 1:]
