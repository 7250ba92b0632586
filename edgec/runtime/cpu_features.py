"""CPU features an artifact's code may use, and whether this machine has them.

At build time the target's LLVM features are filtered to the instruction-set extensions below
and recorded in the manifest; at load time each is looked up in ``/proc/cpuinfo`` under its
kernel name, so an artifact built for a CPU with, say, AVX-512 refuses to load on one without
instead of dying with SIGILL.
"""

from __future__ import annotations

import functools
import platform

# LLVM feature name -> the flag Linux lists in /proc/cpuinfo, per architecture.
ISA_FEATURES: dict[str, dict[str, str]] = {
    "x86_64": {
        "sse4.1": "sse4_1", "sse4.2": "sse4_2", "avx": "avx", "avx2": "avx2", "fma": "fma",
        "f16c": "f16c", "avx512f": "avx512f", "avx512dq": "avx512dq", "avx512cd": "avx512cd",
        "avx512bw": "avx512bw", "avx512vl": "avx512vl", "avx512ifma": "avx512ifma",
        "avx512vbmi": "avx512vbmi", "avx512vbmi2": "avx512_vbmi2",
        "avx512vnni": "avx512_vnni", "avx512bitalg": "avx512_bitalg",
        "avx512vpopcntdq": "avx512_vpopcntdq", "avx512bf16": "avx512_bf16",
        "avx512fp16": "avx512_fp16", "avx512vp2intersect": "avx512_vp2intersect",
        "avxvnni": "avx_vnni", "amx-tile": "amx_tile", "amx-int8": "amx_int8",
        "amx-bf16": "amx_bf16",
    },
    "aarch64": {
        "neon": "asimd", "fp-armv8": "fp", "fullfp16": "asimdhp", "dotprod": "asimddp",
        "i8mm": "i8mm", "bf16": "bf16", "sve": "sve", "sve2": "sve2",
    },
    "armv7l": {"neon": "neon", "vfp3": "vfpv3", "vfp4": "vfpv4", "fp16": "half"},
}


def machine_arch() -> str:
    """This machine's architecture, in ``uname -m`` spelling (armv8l counts as armv7l)."""
    arch = platform.machine()
    return {"amd64": "x86_64", "arm64": "aarch64", "armv8l": "armv7l", "armv7": "armv7l"}.get(
        arch.lower(), arch)


def isa_features(arch: str, llvm_features: list[str] | set[str]) -> list[str]:
    """The instruction-set extensions among ``llvm_features`` that matter for ``arch``."""
    known = ISA_FEATURES.get(arch, {})
    return sorted(f for f in llvm_features if f in known)


# The /proc/cpuinfo line that lists features, per architecture.
_CPUINFO_KEY = {"x86_64": "flags", "aarch64": "features", "armv7l": "features"}


@functools.cache
def _cpuinfo_flags(arch: str) -> frozenset[str] | None:
    """Feature flags of this CPU as Linux lists them for ``arch``; None if it cannot be told
    (no /proc/cpuinfo, or one written for another architecture, as under qemu user mode)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return None
    wanted = _CPUINFO_KEY.get(arch)
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == wanted:
            flags.update(value.split())
    return frozenset(flags) if flags else None


def missing_features(arch: str, required: list[str]) -> list[str]:
    """Required features this CPU lacks; empty when all are present or it cannot be told."""
    flags = _cpuinfo_flags(arch)
    if flags is None:
        return []
    known = ISA_FEATURES.get(arch, {})
    return [f for f in required if f in known and known[f] not in flags]
