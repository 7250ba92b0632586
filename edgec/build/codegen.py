"""Generate code for a lowered module and link it into one shared library with the board's
toolchain."""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

import tvm

from edgec.errors import InternalError, ToolchainError
from edgec.targets.board import Toolchain

logger = logging.getLogger(__name__)

LIBRARY_NAME = "model.so"


def find_compiler(toolchain: Toolchain, board_name: str) -> str:
    """The linker driver for ``toolchain``, or an error saying which package to install."""
    compiler = toolchain.compiler or "g++"
    path = shutil.which(compiler)
    if path is None:
        package = toolchain.package or compiler
        raise ToolchainError(
            f"target '{board_name}' links with '{compiler}', which is not installed; "
            f"install it (Debian/Ubuntu: sudo apt-get install {package}) or build in the "
            "edgec Docker image")
    return path


def build_library(mod: tvm.IRModule, target: tvm.target.Target, toolchain: Toolchain,
                  board_name: str) -> bytes:
    """Code-generate ``mod`` (already through the pipeline) and return the linked library."""
    compiler = find_compiler(toolchain, board_name)
    try:
        executable = tvm.compile(mod, target=target, relax_pipeline=None)
    except Exception as err:
        raise InternalError(f"TVM code generation failed: {type(err).__name__}: "
                            f"{_last_line(err)}") from err
    from tvm.support import cc

    with tempfile.TemporaryDirectory(prefix="edgec-link-") as tmp:
        path = Path(tmp) / LIBRARY_NAME
        try:
            executable.export_library(str(path), fcompile=cc.cross_compiler(compiler))
        except (RuntimeError, subprocess.CalledProcessError, OSError) as err:
            raise ToolchainError(f"linking the library with '{compiler}' failed: "
                                 f"{_linker_errors(err)}") from err
        return path.read_bytes()


def _linker_errors(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines()]
    errors = [line.split("error: ", 1)[-1] for line in lines if "error" in line.lower()
              and not line.startswith("Command line")]
    return "; ".join(errors[:3]) if errors else _last_line(err)


def _last_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[-1] if text else type(err).__name__
