"""Turn what the user passed as ``--target`` into a board and a concrete TVM target.

Accepted: a board name or alias from ``targets/boards/``, or a TVM target as a JSON dict
(``'{"kind": "llvm", "mcpu": "skylake-avx512"}'``), which becomes an ad-hoc board named
``custom``. ``"detect"`` values in a board's target are replaced by this machine's.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from edgec.errors import TargetError
from edgec.targets.board import DETECT, Board, PipelineDefaults, Toolchain
from edgec.targets.registry import get_board

_TRIPLE_ARCH = {"x86_64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64",
                "armv7": "armv7l", "armv7l": "armv7l", "armv8l": "armv7l", "arm": "armv7l"}


@dataclasses.dataclass(frozen=True)
class ResolvedTarget:
    """A board with its TVM target made concrete for this build."""

    board: Board
    target: dict[str, Any]
    cpu_features: tuple[str, ...]

    def tvm_target(self):
        import tvm

        return tvm.target.Target(self.target)


def resolve_target(spec: "str | Board") -> ResolvedTarget:
    """Resolve a ``--target`` value; errors name the value and what is accepted."""
    if isinstance(spec, Board):
        board = spec
    elif spec.strip().startswith("{"):
        board = _board_from_json(spec)
    else:
        board = get_board(spec.strip())
    if not board.available:
        raise TargetError(f"target '{board.name}': {board.unavailable_reason}")
    target = dict(board.target)
    if target.get("mcpu") == DETECT:
        from tvm.target import codegen

        target["mcpu"] = str(codegen.llvm_get_system_cpu())
    if target.get("num-cores") == DETECT:
        target["num-cores"] = os.cpu_count() or 1
    tvm_target = _make_tvm_target(target, board)
    features = _cpu_features(tvm_target, board.arch)
    return ResolvedTarget(board=board, target=dict(tvm_target.export()), cpu_features=features)


def _board_from_json(spec: str) -> Board:
    try:
        target = json.loads(spec)
    except json.JSONDecodeError as err:
        raise TargetError(f"--target looks like JSON but cannot be parsed: {err}") from err
    if not isinstance(target, dict) or "kind" not in target:
        raise TargetError("a JSON --target must be an object with a 'kind', "
                          "e.g. '{\"kind\": \"llvm\", \"mcpu\": \"skylake-avx512\"}'")
    arch = _arch_of(target)
    return Board(name="custom", description="a TVM target given on the command line",
                 kind="cpu" if target["kind"] in ("llvm", "c") else "gpu", arch=arch,
                 target=target, toolchain=Toolchain(), pipeline=PipelineDefaults())


def _arch_of(target: dict[str, Any]) -> str:
    triple = str(target.get("mtriple", "") or "")
    if not triple:
        from edgec.runtime.cpu_features import machine_arch

        return machine_arch()
    head = triple.split("-", 1)[0]
    for prefix, arch in sorted(_TRIPLE_ARCH.items(), key=lambda kv: -len(kv[0])):
        if head.startswith(prefix):
            return arch
    return head


def _make_tvm_target(target: dict[str, Any], board: Board):
    import tvm

    try:
        return tvm.target.Target(target)
    except Exception as err:  # TVM raises ValueError/TVMError variants
        where = f"board file '{board.source}'" if board.source else "--target"
        raise TargetError(f"{where}: TVM rejects the target {json.dumps(target)}: "
                          f"{str(err).strip().splitlines()[-1]}") from err


def _cpu_features(tvm_target, arch: str) -> tuple[str, ...]:
    if tvm_target.kind.name != "llvm":
        return ()
    from tvm.target import codegen

    from edgec.runtime.cpu_features import isa_features

    try:
        llvm_features = {str(f) for f in codegen.llvm_get_cpu_features(tvm_target)}
    except Exception:  # an LLVM without this triple's backend: nothing to check against
        return ()
    return tuple(isa_features(arch, llvm_features))
