"""The instruction check: a library built with dot-product kernels must contain the instruction.

Tensorization can be silently undone (a schedule that did not apply, an LLVM that lowered the
intrinsic to something else), and a board without the instruction must never get it. After a
build that scheduled dot-product kernels, the library is disassembled with the board's objdump
(``aarch64-linux-gnu-objdump`` for the Pi, ``objdump`` on the host, ``llvm-objdump`` where
those are missing) and the ISA's mnemonics counted. None found is an error, not a slow artifact.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from edgec.errors import InternalError
from edgec.targets.board import Toolchain


def disassembler(toolchain: Toolchain) -> str | None:
    """The objdump for the toolchain's target (prefix of its compiler), or llvm-objdump."""
    compiler = Path(toolchain.compiler or "g++").name
    prefix = compiler[:-len("g++")] if compiler.endswith("g++") else ""
    for name in (f"{prefix}objdump", "llvm-objdump"):
        path = shutil.which(name)
        if path:
            return path
    return None


def count_mnemonics(library: bytes, toolchain: Toolchain,
                    mnemonics: tuple[str, ...]) -> dict[str, int] | None:
    """How often each mnemonic occurs in the library's code; None without a disassembler."""
    tool = disassembler(toolchain)
    if tool is None:
        return None
    with tempfile.TemporaryDirectory(prefix="edgec-objdump-") as tmp:
        path = Path(tmp) / "library.so"
        path.write_bytes(library)
        try:
            text = subprocess.run([tool, "-d", "--no-show-raw-insn", str(path)], check=True,
                                  capture_output=True, text=True, timeout=300).stdout
        except (OSError, subprocess.SubprocessError) as err:
            raise InternalError(f"disassembling the library with {tool} failed: {err}") from err
    return {m: len(re.findall(rf"\s{re.escape(m)}\s", text)) for m in mnemonics}


def check_dot_instructions(library: bytes, toolchain: Toolchain, rewrites: dict,
                           board: str) -> dict | None:
    """The instruction check for the dot-product kernels in ``rewrites`` (module docstring):
    ``{"isa", "kernels", "found": {mnemonic: count}}`` (isa: the names joined by "+"), ``found``
    None when no disassembler is installed; an ``InternalError`` when an instruction is
    missing."""
    from edgec.passes.dot_product_conv import DOT_SCHEDULED
    from edgec.schedules.int8_dot import ISAS

    prefix = DOT_SCHEDULED + " ("
    scheduled = {k[len(prefix):-1]: v for k, v in rewrites.items() if k.startswith(prefix)}
    if not scheduled:
        return None
    names = "+".join(sorted(scheduled))
    kernels = sum(scheduled.values())
    mnemonics = tuple(dict.fromkeys(m for name in sorted(scheduled)
                                    for m in ISAS[name].mnemonics))
    found = count_mnemonics(library, toolchain, mnemonics)
    if found is not None and not all(found.values()):
        missing = ", ".join(m for m, n in found.items() if not n)
        raise InternalError(
            f"{kernels} int8 kernels for '{board}' were scheduled for {names}, but the "
            f"library has no {missing} instruction: the kernels would be slow or wrong. "
            "Compile with --disable-pass DotProductConv to use the int32 kernels, and report "
            "this model")
    return {"isa": names, "kernels": kernels, "found": found}
