"""Turn what the user passed as ``--target`` into a board and a concrete TVM target.

Accepted, in this order:

1. a TVM target as a JSON dict: ``'{"kind": "llvm", "mcpu": "skylake-avx512"}'``;
2. a board name or alias from ``targets/boards/``: ``rasp4b``;
3. a tvmc-style string: ``"llvm -mtriple=aarch64-linux-gnu -mcpu=cortex-a72 -mattr=+neon"``;
4. a TVM tag: ``raspberry-pi/4b-aarch64``, ``arm/rasp4b64``.

Forms 1, 3 and 4 make an ad-hoc board whose toolchain and emulator come from the generic board
of the same architecture (``host``, ``aarch64-linux``, ``armv7-linux``). ``"detect"`` values in
a board's target are replaced by this machine's.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from edgec.errors import TargetError
from edgec.targets.board import DETECT, Board
from edgec.targets.registry import GENERIC_BOARDS, all_boards, get_board
from edgec.targets.tvmc import looks_like_tvmc, translate_tvmc

_TVM_KINDS = frozenset({"llvm", "c", "cuda", "opencl", "vulkan", "metal", "rocm"})
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
    else:
        board = _board_for(spec.strip())
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
    return ResolvedTarget(board=board, target=_plain(dict(tvm_target.export())),
                          cpu_features=features)


def _board_for(spec: str) -> Board:
    if spec.startswith("{"):
        return _adhoc_board(_parse_json(spec), spec, "JSON")
    if spec in all_boards():
        return get_board(spec)
    if looks_like_tvmc(spec) or spec in _TVM_KINDS:
        return _adhoc_board(translate_tvmc(spec), spec, "tvmc string")
    if "/" in spec:
        return _adhoc_board(_tag_target(spec), spec, "TVM tag")
    return get_board(spec)  # raises: unknown target, with the list of boards


def _parse_json(spec: str) -> dict[str, Any]:
    try:
        target = json.loads(spec)
    except json.JSONDecodeError as err:
        raise TargetError(f"--target looks like JSON but cannot be parsed: {err}") from err
    if not isinstance(target, dict) or "kind" not in target:
        raise TargetError("a JSON --target must be an object with a 'kind', "
                          "e.g. '{\"kind\": \"llvm\", \"mcpu\": \"skylake-avx512\"}'")
    return target


def _tag_target(tag: str) -> dict[str, Any]:
    import tvm

    try:
        target = tvm.target.Target(tag)
    except Exception as err:  # TVM raises ValueError/TVMError variants
        raise TargetError(f"unknown target '{tag}': not a board (see `edgec targets`) and not a "
                          "TVM target tag") from err
    return _plain(dict(target.export()))


def _adhoc_board(target: dict[str, Any], spec: str, form: str) -> Board:
    kind = target.get("kind")
    if kind != "llvm":
        raise TargetError(f"target '{spec}' is of kind '{kind}'; edgec builds CPU (llvm) "
                          "targets so far")
    arch = _arch_of(target)
    generic = GENERIC_BOARDS.get(arch)
    if generic is None:
        raise TargetError(f"target '{spec}' is for architecture '{arch}', for which edgec has no "
                          f"toolchain; supported: {', '.join(sorted(GENERIC_BOARDS))}")
    base = get_board(generic)
    target = {k: v for k, v in target.items() if k != "tag"}
    if arch == "armv7l" and str(target.get("mtriple", "")).endswith("hf"):
        # LLVM defaults to the soft-float calling convention, which a hard-float (gnueabihf)
        # toolchain refuses to link.
        target.setdefault("mfloat-abi", "hard")
    return dataclasses.replace(
        base, name="custom", description=f"{form} {spec}", target=target, aliases=(),
        source="")


def _plain(value: Any) -> Any:
    """TVM containers to JSON-able Python values."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "__iter__"):
        return [_plain(v) for v in value]
    return str(value)


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
