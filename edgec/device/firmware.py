"""Run a C artifact (``kind = "mcu"`` boards) on an emulated Cortex-M board.

The artifact's ``model.c`` is linked with a bare-metal start-up (``firmware/startup.c``), a
harness generated for the model's signature, and a linker script with the board's flash and
RAM sizes, then run in ``qemu-system-arm``. The harness reads the inputs from files on this
machine and writes the outputs back through semihosting, and counts SysTick ticks around the
one call; with ``-icount shift=0`` qemu advances its clock one nanosecond per instruction, so
ticks times (1e9 / the board's SysTick clock) is the number of instructions executed, exact
to one tick and the same on every run. It is an instruction count, not a cycle count: it says
nothing about wait states, caches or the real clock.
"""

from __future__ import annotations

import dataclasses
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np

from edgec.backends.c.emit import C_TYPES
from edgec.build.codegen import find_compiler
from edgec.device.emulator import require_qemu
from edgec.errors import DeviceError, InternalError
from edgec.signature import numpy_dtype

TIMEOUT_S = 900
STACK_BYTES = 16 * 1024   # reserved below the top of RAM, checked by the linker
_FAULT = 3


@dataclasses.dataclass
class FirmwareRun:
    outputs: list[np.ndarray]
    instructions: int
    ticks: int


def run_firmware(board, manifest, files: dict[str, bytes], arrays: list[np.ndarray]
                 ) -> FirmwareRun:
    qemu = require_qemu(board)
    signature = manifest.signature
    with tempfile.TemporaryDirectory(prefix="edgec-firmware-") as tmp:
        root = Path(tmp)
        for name in (manifest.entry["source"], manifest.entry["header"]):
            (root / name).write_bytes(files[name])
        elf = build_firmware(board, root, harness_source(manifest))
        for index, array in enumerate(arrays):
            (root / f"in{index}.bin").write_bytes(np.ascontiguousarray(array).tobytes())
        command = _qemu_command(qemu, board, elf)
        try:
            done = subprocess.run(command, cwd=root, capture_output=True, text=True,
                                  timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired as err:
            raise DeviceError(f"the emulated {board.name} did not finish within {TIMEOUT_S} s"
                              ) from err
        if done.returncode != 0:
            what = ("a hard fault" if done.returncode == _FAULT else
                    "a misaligned arena" if done.returncode == 255 else
                    f"exit code {done.returncode}")
            raise DeviceError(f"the model failed on the emulated {board.name} ({what}): "
                              f"{done.stderr.strip()[-300:]}")
        outputs = []
        for index, spec in enumerate(signature.outputs):
            data = (root / f"out{index}.bin").read_bytes()
            outputs.append(np.frombuffer(data, dtype=numpy_dtype(spec.dtype)).reshape(
                spec.shape).copy())
        ticks = int((root / "ticks.txt").read_text().strip())
    per_tick = 1e9 / board.emulator.systick_hz if board.emulator.systick_hz else 1.0
    return FirmwareRun(outputs, int(round(ticks * per_tick)), ticks)


def check_board(board) -> str:
    """Build and run an empty firmware for ``board``: the cross compiler, newlib and qemu are
    installed and work. Returns a line saying so."""
    qemu = require_qemu(board)
    with tempfile.TemporaryDirectory(prefix="edgec-firmware-") as tmp:
        root = Path(tmp)
        (root / "model.c").write_text("typedef int edgec_empty;\n")
        elf = build_firmware(board, root,
                             '#include "firmware.h"\nint main(void) { return 7; }\n')
        done = subprocess.run(_qemu_command(qemu, board, elf), cwd=root, capture_output=True,
                              text=True, timeout=60)
    if done.returncode != 7:
        raise DeviceError(f"an empty firmware did not run on the emulated {board.name} "
                          f"(exit code {done.returncode}): {done.stderr.strip()[-300:]}")
    return (f"emulator   {board.name}: ready (firmware built with {board.toolchain.compiler}, "
            f"runs in {board.emulator.qemu} -M {board.emulator.machine})")


def _qemu_command(qemu: str, board, elf: Path) -> list[str]:
    return [qemu, "-M", board.emulator.machine, "-nographic", "-monitor", "none",
            "-serial", "null", "-semihosting-config", "enable=on,target=native",
            "-icount", "shift=0,align=off,sleep=off", "-kernel", str(elf)]


def build_firmware(board, root: Path, harness: str) -> Path:
    """Link ``root/model.c`` with the start-up code, ``harness`` (C with ``main``) and the
    board's linker script into ``root/firmware.elf``."""
    from edgec.backends.c.build import compile_flags

    compiler = find_compiler(board.toolchain, board.name)
    (root / "harness.c").write_text(harness)
    (root / "link.ld").write_text(linker_script(board))
    for path in ("startup.c", "firmware.h"):
        (root / path).write_bytes(resources.files("edgec.device").joinpath(
            "firmware", path).read_bytes())

    command = [compiler, *compile_flags(board), "-Wall", "-Wextra", "-nostartfiles",
               "--specs=nano.specs", "-T", "link.ld", "-Wl,--gc-sections", "-I.",
               "startup.c", "harness.c", "model.c", "-lm", "-o", "firmware.elf"]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        text = done.stderr.strip()
        if "overflowed" in text or "will not fit" in text:
            raise DeviceError(f"the firmware does not fit the emulated {board.name}: "
                              + "; ".join(l for l in text.splitlines() if "overflow" in l)[:400])
        raise InternalError(f"building the firmware for {board.name} failed: {text[-600:]}")
    return root / "firmware.elf"


def harness_source(manifest) -> str:
    entry = manifest.entry
    signature = manifest.signature
    macro = entry["arena_macro"]
    lines = ["/* Test harness: inputs from in<i>.bin, outputs to out<i>.bin, SysTick ticks of",
             " * the call to ticks.txt, all through semihosting. */", '#include "firmware.h"',
             f'#include "{entry["header"]}"', "",
             f"static uint8_t arena[{macro} > 0u ? {macro} : 1u] "
             "__attribute__((aligned(16)));"]
    # inputs and outputs live in the arena, at the offsets the header gives (as TFLite Micro
    # keeps them in its arena): the firmware's RAM is the arena, the stack and nothing else
    args, sizes = [], []
    offsets = manifest.entry["io_offsets"]
    for role, specs in (("in", signature.inputs), ("out", signature.outputs)):
        for index, spec in enumerate(specs):
            ctype = C_TYPES[spec.dtype]
            nbytes = int(np.prod(spec.shape, dtype=np.int64)) * np.dtype(
                numpy_dtype(spec.dtype)).itemsize
            offset = offsets[f"{role}put{index}"]
            lines.append(f"#define {role}{index} (({ctype} *)(arena + {offset}u))")
            args.append(f"{role}{index}")
            sizes.append(nbytes)
    lines += ["", "static int load(const char *name, void *data, uint32_t bytes) {",
              "  int fd = edgec_fw_open(name, 0);", "  if (fd < 0) return -1;",
              "  int left = edgec_fw_read(fd, data, bytes);", "  edgec_fw_close(fd);",
              "  return left == 0 ? 0 : -1;", "}", "",
              "static int store(const char *name, const void *data, uint32_t bytes) {",
              "  int fd = edgec_fw_open(name, 1);", "  if (fd < 0) return -1;",
              "  int left = edgec_fw_write(fd, data, bytes);", "  edgec_fw_close(fd);",
              "  return left == 0 ? 0 : -1;", "}", "",
              "int main(void) {"]
    for index, _ in enumerate(signature.inputs):
        lines.append(f'  if (load("in{index}.bin", in{index}, {sizes[index]}u) != 0) '
                     "return 4;")
    lines += ["  edgec_fw_ticks_start();",
              f"  int32_t status = {entry['function']}({', '.join(args)}, arena);",
              "  uint64_t ticks = edgec_fw_ticks();",
              "  if (status != 0) return status < 0 ? 255 : 16 + (int)(status & 0x7f);"]
    for index, _ in enumerate(signature.outputs):
        lines.append(f'  if (store("out{index}.bin", out{index}, '
                     f'{sizes[len(signature.inputs) + index]}u) != 0) return 5;')
    lines += ["  char text[24];", "  int n = 0;", "  char digits[24];",
              "  do {", "    digits[n++] = (char)('0' + (int)(ticks % 10u));",
              "    ticks /= 10u;", "  } while (ticks != 0u);",
              "  for (int i = 0; i < n; i++) text[i] = digits[n - 1 - i];", "  text[n] = '\\n';",
              '  if (store("ticks.txt", text, (uint32_t)(n + 1)) != 0) return 5;',
              "  return 0;", "}", ""]
    return "\n".join(lines)


def linker_script(board) -> str:
    memory = board.memory
    regions = []
    if memory.boot_origin >= 0:
        regions.append(f"  BOOT (rx) : ORIGIN = {memory.boot_origin:#x}, LENGTH = 1K")
    regions += [f"  FLASH (rx) : ORIGIN = {memory.flash_origin:#x}, LENGTH = {memory.flash_kb}K",
                f"  RAM (rwx) : ORIGIN = {memory.ram_origin:#x}, LENGTH = {memory.ram_kb}K"]
    vectors = "> BOOT" if memory.boot_origin >= 0 else "> FLASH"
    return "\n".join([
        f"/* {board.name}: {memory.flash_kb} KiB flash, {memory.ram_kb} KiB RAM. */",
        "MEMORY", "{", *regions, "}", "SECTIONS", "{",
        f"  .vectors : {{ KEEP(*(.vectors)) }} {vectors}",
        "  .text : { *(.text*) *(.rodata*) . = ALIGN(4); } > FLASH",
        "  .ARM.exidx : { *(.ARM.exidx*) } > FLASH",
        "  .data : { __data_start = .; *(.data*) . = ALIGN(4); __data_end = .; } > RAM AT > FLASH",
        "  __data_load = LOADADDR(.data);",
        "  .bss (NOLOAD) : { __bss_start = .; *(.bss*) *(COMMON) . = ALIGN(4); __bss_end = .; } > RAM",
        "  __stack_top = ORIGIN(RAM) + LENGTH(RAM);",
        f"  ASSERT(__bss_end + {STACK_BYTES} <= __stack_top, \"RAM overflowed: no room left for a "
        f"{STACK_BYTES // 1024} KiB stack\")",
        "}", ""])
