"""A board is data: one TOML file in ``targets/boards/`` per device, validated on load.

Schema (unknown keys and wrong types are errors naming the file):

- ``name`` (str), ``description`` (str), ``kind`` ("cpu" | "gpu" | "mcu"),
  ``arch`` (what ``uname -m`` prints on the board: "x86_64", "aarch64", "armv7l", ...),
  ``aliases`` (list of str, optional), ``available`` (bool, default true) and ``unavailable_reason``
  (str) for boards whose back end is not built yet.
- ``[target]``: the TVM target as a dict (``Target({...})``). The value ``"detect"`` for
  ``mcpu`` or ``num-cores`` is replaced by the build machine's own when compiling.
- ``[toolchain]``: ``compiler`` (the C++ compiler that links the shared library) and
  ``package`` (the Debian package providing it).
- ``[toolchain]`` for ``mcu`` boards: ``compiler`` is the bare-metal C compiler
  (``arm-none-eabi-gcc``) and ``cflags`` its flags for the board's core and FPU.
- ``[emulator]`` (optional): how to run the board's code on this machine under qemu user mode
  (``mcu`` boards: qemu-system, with ``machine`` the ``-M`` board, ``systick_hz`` its SysTick
  clock, and ``[memory]`` ``flash_origin`` / ``ram_origin`` / ``boot_origin`` where the
  emulated board maps them):
  ``qemu`` (binary), ``package`` (Debian package), ``cpu`` (``-cpu`` model), ``debian_arch``
  (the Debian architecture of the emulated userland: arm64, armhf) and ``python_runtime``
  ("wheels": TVM's PyPI wheels for that architecture; "source": TVM's runtime cross-compiled from
  the sources its wheel ships, for architectures PyPI has no wheels for).
- ``[memory]`` (optional): ``ram_kb``, ``flash_kb`` (an ``mcu`` board's real sizes: the
  artifact must fit them).
- ``[pipeline]``: ``opt_level`` (0..3), ``disabled_passes`` (list of pass names), ``layout``
  (conv2d data layout at -O3: "NCHW" or "NHWC"), ``fuse_max_depth`` (cap on operators per fused
  kernel; 0 = TVM's default).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from edgec.errors import BoardFileError

KINDS = ("cpu", "gpu", "mcu")
PYTHON_RUNTIMES = ("wheels", "source")
DETECT = "detect"


@dataclasses.dataclass(frozen=True)
class Toolchain:
    compiler: str = ""
    package: str = ""
    cflags: tuple[str, ...] = ()  # mcu boards: the C compiler's flags for the board's core


@dataclasses.dataclass(frozen=True)
class Emulator:
    qemu: str
    package: str
    cpu: str
    debian_arch: str = ""
    python_runtime: str = "wheels"
    machine: str = ""     # qemu-system boards (mcu): the -M machine
    systick_hz: int = 0   # mcu: the emulated core's SysTick clock (instructions per tick)


@dataclasses.dataclass(frozen=True)
class Memory:
    ram_kb: int = 0
    flash_kb: int = 0
    # mcu boards, as emulated: where flash and RAM start, and where the vector table must be
    # when flash does not start there (-1: at the start of flash)
    flash_origin: int = 0
    ram_origin: int = 0x20000000
    boot_origin: int = -1


@dataclasses.dataclass(frozen=True)
class PipelineDefaults:
    opt_level: int = 3
    disabled_passes: tuple[str, ...] = ()
    layout: str = "NCHW"
    fuse_max_depth: int = 0


@dataclasses.dataclass(frozen=True)
class Board:
    name: str
    description: str
    kind: str
    arch: str
    target: dict[str, Any]
    aliases: tuple[str, ...] = ()
    available: bool = True
    unavailable_reason: str = ""
    toolchain: Toolchain = Toolchain()
    emulator: Emulator | None = None
    memory: Memory = Memory()
    pipeline: PipelineDefaults = PipelineDefaults()
    source: str = ""  # the file it came from, for messages

    @property
    def is_host_detected(self) -> bool:
        return DETECT in (self.target.get("mcpu"), self.target.get("num-cores"))


def load_board_file(path: Path) -> Board:
    """Parse and validate one board file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise BoardFileError(f"board file '{path}' cannot be read: {err}") from err
    return board_from_dict(data, str(path))


def board_from_dict(data: dict[str, Any], source: str) -> Board:
    data = dict(data)
    values = _convert(Board, data, source, "")
    board = Board(**values, source=source)
    if board.kind not in KINDS:
        raise BoardFileError(f"board file '{source}': kind '{board.kind}' is not one of "
                             f"{', '.join(KINDS)}")
    if "kind" not in board.target:
        raise BoardFileError(f"board file '{source}': [target] needs a 'kind' (e.g. \"llvm\")")
    if not 0 <= board.pipeline.opt_level <= 3:
        raise BoardFileError(f"board file '{source}': pipeline.opt_level must be 0..3")
    if board.pipeline.layout not in ("NCHW", "NHWC"):
        raise BoardFileError(f"board file '{source}': pipeline.layout must be NCHW or NHWC")
    if board.pipeline.fuse_max_depth < 0:
        raise BoardFileError(f"board file '{source}': pipeline.fuse_max_depth must be >= 0")
    if board.emulator and board.emulator.python_runtime not in PYTHON_RUNTIMES:
        raise BoardFileError(f"board file '{source}': emulator.python_runtime must be one of "
                             f"{', '.join(PYTHON_RUNTIMES)}")
    if not board.available and not board.unavailable_reason:
        raise BoardFileError(f"board file '{source}': an unavailable board needs "
                             "'unavailable_reason'")
    stem = os.path.splitext(os.path.basename(source))[0]
    if source.endswith(".toml") and stem != board.name:
        raise BoardFileError(f"board file '{source}' declares name '{board.name}'; the file "
                             f"must be named '{board.name}.toml'")
    return board


def _convert(cls: type, data: dict[str, Any], source: str, prefix: str) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise BoardFileError(
            f"board file '{source}': unknown key(s) {', '.join(prefix + u for u in unknown)}; "
            f"known keys are {', '.join(prefix + f for f in fields)}")
    values = {}
    for name, field in fields.items():
        key = prefix + name
        if name not in data:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise BoardFileError(f"board file '{source}': missing required key '{key}'")
            continue
        values[name] = _check_type(hints[name], data[name], source, key)
    return values


def _check_type(hint: Any, value: Any, source: str, key: str) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise BoardFileError(f"board file '{source}': '{key}' must be a table")
        return hint(**_convert(hint, value, source, key + "."))
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BoardFileError(f"board file '{source}': '{key}' must be a list of strings")
        return tuple(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise BoardFileError(f"board file '{source}': '{key}' must be a table")
        return dict(value)
    expected = {str: str, int: int, bool: bool}[hint]
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise BoardFileError(f"board file '{source}': '{key}' must be a {expected.__name__}, "
                             f"not {type(value).__name__} ({value!r})")
    return value
