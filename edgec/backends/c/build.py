"""The C back end end to end: module -> program -> kernels -> arena plan -> ``model.c`` and
``model.h``, then a reference build with the board's cross compiler that measures flash and
RAM and refuses a model the board cannot hold."""

from __future__ import annotations

import dataclasses
import logging
import re
import subprocess
import tempfile
from pathlib import Path

import tvm

from edgec.backends.c import arena as arena_plan
from edgec.backends.c.emit import Sources, c_identifier, emit
from edgec.backends.c.kernels import generate
from edgec.backends.c.program import ARENA, Program, build_program
from edgec.build.codegen import find_compiler
from edgec.errors import DoesNotFitError, InternalError, ToolchainError

logger = logging.getLogger(__name__)

SOURCE_NAME, HEADER_NAME = "model.c", "model.h"
# what a warning-free build is checked with (the reference build)
WARNING_FLAGS = ("-Wall", "-Wextra")


@dataclasses.dataclass
class CBuild:
    sources: Sources
    program: Program
    plan: arena_plan.Plan
    scratch: dict[int, int]          # call -> scratch bytes reserved for it
    memory: dict                     # the reference build's sizes against the board's limits

    def files(self) -> dict[str, bytes]:
        return {SOURCE_NAME: self.sources.model_c.encode(),
                HEADER_NAME: self.sources.model_h.encode()}

    def entry(self) -> dict:
        """The manifest's ``entry`` for a C artifact."""
        return {"kind": "c", "source": SOURCE_NAME, "header": HEADER_NAME,
                "function": self.sources.function, "arena_macro": self.sources.arena_macro,
                "arena_bytes": self.plan.size,
                "io_offsets": {**{f"input{i}": self.plan.offsets[("input", t)]
                                  for i, t in enumerate(self.program.inputs)},
                               **{f"output{i}": self.plan.offsets[("output", i)]
                                  for i in range(len(self.program.outputs))}}}

    def stats(self) -> dict:
        """The manifest's ``stats`` additions: memory against the board, the arena plan."""
        return {"mcu": {**self.memory, "arena_lower_bound": self.plan.lower_bound,
                        "arena_order": self.plan.order, "kernel_calls": len(self.program.calls),
                        "arena_plan": self.arena_table()}}

    def arena_table(self) -> list[dict]:
        """Each arena buffer: what it is, offset, bytes, live from/to (1-based calls)."""
        rows = []
        for tensor in self.program.tensors:
            if tensor.role == ARENA and tensor.base is None and tensor.index in self.plan.offsets:
                producer = self.program.calls[tensor.producer].kernel \
                    if tensor.producer is not None else "?"
                rows.append({"buffer": f"t{tensor.index} {tensor.dtype}"
                             f"[{','.join(map(str, tensor.shape))}] from {producer}",
                             "offset": self.plan.offsets[tensor.index], "bytes": tensor.nbytes,
                             "first": tensor.producer + 1 if tensor.producer is not None else 0,
                             "last": tensor.last_use + 1})
        for key, offset in self.plan.offsets.items():
            if isinstance(key, tuple) and key[0] in ("input", "output"):
                index = key[1] if key[0] == "input" else self.program.outputs[key[1]]
                tensor = self.program.tensors[index]
                rows.append({"buffer": f"{key[0]} '{tensor.name}' {tensor.dtype}"
                             f"[{','.join(map(str, tensor.shape))}] (when the caller keeps it "
                             "in the arena)", "offset": offset, "bytes": tensor.nbytes,
                             "first": 0 if key[0] == "input" else
                             (tensor.producer or 0) + 1, "last": len(self.program.calls)})
        for call, size in self.scratch.items():
            rows.append({"buffer": f"scratch of {self.program.calls[call].kernel}",
                         "offset": self.plan.offsets[("scratch", call)], "bytes": size,
                         "first": call + 1, "last": call + 1})
        return sorted(rows, key=lambda r: (r["offset"], r["first"]))


def c_prefix(model_name: str) -> str:
    return f"edgec_{c_identifier(model_name).lower()}_"


def build_c(mod: tvm.IRModule, target: tvm.target.Target, board, model_name: str,
            input_names: list[str], output_names: list[str], describe: str) -> CBuild:
    prefix = c_prefix(model_name)
    program = build_program(mod, input_names, output_names)
    kernels = generate(mod, target, prefix, {call.kernel for call in program.calls})
    scratch = {call.index: sum(arena_plan.align(n) for n in kernels.workspace[call.kernel])
               for call in program.calls if call.kernel in kernels.workspace}
    buffers = arena_buffers(program, scratch)
    plan = arena_plan.plan(buffers)
    arena_plan.check(buffers, plan)
    flags = " ".join([board.toolchain.compiler, *compile_flags(board)])
    sources = emit(program, kernels, plan, scratch, model_name, prefix, describe, flags)
    logger.info("arena %d bytes (lower bound %d, %s order), %d kernels", plan.size,
                plan.lower_bound, plan.order, len(program.calls))
    memory = reference_build(sources, board, plan.size)
    return CBuild(sources, program, plan, scratch, memory)


def arena_buffers(program: Program, scratch: dict[int, int]) -> list[arena_plan.Buffer]:
    """What the arena holds, with the calls each is live in: intermediate tensors, kernel
    scratch, and a place for each model input and output, as TFLite Micro's arena has (a
    caller may keep its inputs and outputs there, at their ``_OFFSET``, and need no other
    RAM for them; one that passes buffers of its own leaves those places unused)."""
    end = len(program.calls)  # the step after the last kernel: outputs copied, returned
    buffers = [arena_plan.Buffer(t.index, t.nbytes, t.producer, t.last_use)
               for t in program.tensors
               if t.role == ARENA and t.base is None and t.producer is not None]
    buffers += [arena_plan.Buffer(("scratch", call), size, call, call)
                for call, size in scratch.items()]
    for index in program.inputs:
        root = program.tensors[index]
        buffers.append(arena_plan.Buffer(("input", index), root.nbytes, 0,
                                         max(0, root.last_use)))
    for position, index in enumerate(program.outputs):
        producer = program.root(index).producer
        tensor = program.tensors[index]
        first = producer if program.written_in_place(position) and producer is not None \
            else end
        buffers.append(arena_plan.Buffer(("output", position), tensor.nbytes, first, end))
    return buffers


def compile_flags(board) -> list[str]:
    """How the reference build and the emulated firmware compile the C: the board's core
    flags and -O3 (measured on the MLPerf Tiny models against -O2: 1.4-2.4x fewer
    instructions, at 1-2 KB more code; gcc unswitches the padding tests out of the
    convolutions' inner loops and, on the Cortex-M55, vectorizes for Helium)."""
    return [*board.toolchain.cflags, "-O3", "-ffunction-sections", "-fdata-sections"]


def reference_build(sources: Sources, board, arena_bytes: int) -> dict:
    """Compile ``model.c`` for the board (warnings are errors), measure it with ``size`` and
    ``-fstack-usage``, and check it against the board's flash and RAM."""
    compiler = find_compiler(board.toolchain, board.name)
    size_tool = re.sub(r"gcc$", "size", compiler)
    with tempfile.TemporaryDirectory(prefix="edgec-c-") as tmp:
        root = Path(tmp)
        (root / SOURCE_NAME).write_text(sources.model_c)
        (root / HEADER_NAME).write_text(sources.model_h)
        command = [compiler, *compile_flags(board), *WARNING_FLAGS, "-Werror",
                   "-fstack-usage", "-c", SOURCE_NAME, "-o", "model.o"]
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=900)
        if done.returncode != 0 and re.search(r"fatal error: \S+\.h: No such file",
                                              done.stderr):
            raise ToolchainError(f"'{board.toolchain.compiler}' has no C library headers ("
                                 + done.stderr.split("fatal error: ", 1)[1].splitlines()[0]
                                 + f"); install them (Debian/Ubuntu: sudo apt-get install "
                                 f"{board.toolchain.package})")
        if done.returncode != 0:
            raise InternalError("the generated C does not compile cleanly with "
                                f"{board.toolchain.compiler} {' '.join(WARNING_FLAGS)}: "
                                + "; ".join(done.stderr.strip().splitlines()[:6]))
        sizes = subprocess.run([size_tool, "-A", "model.o"], cwd=root, capture_output=True,
                               text=True, check=True).stdout
        stack = _stack_usage(root / "model.su", sources.function)
    sections = {}
    for line in sizes.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            sections[parts[0]] = sections.get(parts[0], 0) + int(parts[1])
    flash = sum(v for k, v in sections.items() if k.startswith((".text", ".rodata", ".data")))
    static_ram = sum(v for k, v in sections.items() if k.startswith((".data", ".bss")))
    ram = static_ram + arena_bytes + stack
    memory = {"flash_bytes": flash, "ram_bytes": ram, "arena_bytes": arena_bytes,
              "static_ram_bytes": static_ram, "stack_bytes": stack,
              "flash_limit": board.memory.flash_kb * 1024, "ram_limit": board.memory.ram_kb * 1024,
              "compiler": board.toolchain.compiler, "flags": compile_flags(board)}
    _check_fits(memory, board)
    return memory


def _stack_usage(path: Path, function: str) -> int:
    """The run function's frame plus the deepest function it calls (gcc's
    ``-fstack-usage``: one line per function, ``file:line:col:name bytes kind``)."""
    frames = {}
    for line in path.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[1].strip().isdigit():
            frames[parts[0].rsplit(":", 1)[-1]] = int(parts[1])
    run = frames.pop(function, 0)
    return run + max(frames.values(), default=0)


def _check_fits(memory: dict, board) -> None:
    problems = []
    if memory["flash_limit"] and memory["flash_bytes"] > memory["flash_limit"]:
        problems.append(f"flash: {memory['flash_bytes']:,} bytes of code and weights, the "
                        f"board has {memory['flash_limit']:,}")
    if memory["ram_limit"] and memory["ram_bytes"] > memory["ram_limit"]:
        problems.append(f"RAM: {memory['ram_bytes']:,} bytes ({memory['arena_bytes']:,} arena, "
                        f"{memory['stack_bytes']:,} stack, {memory['static_ram_bytes']:,} static),"
                        f" the board has {memory['ram_limit']:,}")
    if problems:
        raise DoesNotFitError(
            f"the model does not fit board '{board.name}': {'; '.join(problems)}. Try "
            "--quantize int8 (4x smaller weights and activations), a smaller input "
            "(--input-shape), or a board with more memory")
