"""What a default schedule needs to know about the CPU: SIMD lanes and cores."""

from __future__ import annotations

import functools

import tvm


@functools.lru_cache(maxsize=64)
def _features(target_json: str) -> frozenset[str]:
    from tvm.target.codegen import llvm_get_cpu_features

    try:
        target = tvm.target.Target(__import__("json").loads(target_json))
        return frozenset(str(f) for f in llvm_get_cpu_features(target))
    except Exception:  # an LLVM without this target's back end: assume the baseline
        return frozenset()


def _key(target: tvm.target.Target) -> str:
    import json

    export = dict(target.export())
    plain = {k: (list(v) if hasattr(v, "__iter__") and not isinstance(v, str) else v)
             for k, v in export.items() if k in ("kind", "mtriple", "mcpu", "mattr")}
    return json.dumps(plain, sort_keys=True, default=str)


def cpu_features(target: tvm.target.Target) -> frozenset[str]:
    """LLVM's feature names for the target's CPU (``avx512vnni``, ``dotprod``, ``neon``...)."""
    return _features(_key(target))


def vector_bits(target: tvm.target.Target) -> int:
    """Width of the SIMD registers the target has: 512 (AVX-512), 256 (AVX2), 128 (SSE, NEON)."""
    features = _features(_key(target))
    if "avx512f" in features:
        return 512
    if "avx" in features or "avx2" in features:
        return 256
    return 128


def vector_lanes(target: tvm.target.Target, dtype_bits: int = 32) -> int:
    """Lanes of ``dtype_bits``-wide elements in one SIMD register (fp32: 16 / 8 / 4)."""
    return max(1, vector_bits(target) // dtype_bits)


def num_cores(target: tvm.target.Target) -> int:
    cores = target.attrs.get("num-cores") if hasattr(target, "attrs") else None
    try:
        return max(1, int(cores)) if cores is not None else 1
    except (TypeError, ValueError):
        return 1
