"""Integer dot-product instructions for int8 kernels, as TVM tensor intrinsics.

Each instruction computes, for ``lanes`` int32 accumulators at once, a dot product of 4 bytes of
activations (the same 4 for every lane) with 4 bytes of weights per lane:

    acc[i] += a[0] * w[i, 0] + a[1] * w[i, 1] + a[2] * w[i, 2] + a[3] * w[i, 3]    i < lanes

========  =====================  =====  ===========  ==============================
name      instruction            lanes  activations  boards
========  =====================  =====  ===========  ==============================
vnni      vpdpbusd zmm (AVX512)  16     uint8        x86 with avx512vnni
vnni8     vpdpbusd ymm           8      uint8        the same (avx512vl), or AVX-VNNI
sdot      sdot v.4s (ARMv8.2)    4      int8         Pi 5, Orin, RK3588 (dotprod)
neon      smull + saddlp + addp  4      int8         every aarch64 (Pi 3/4, RK3399)
========  =====================  =====  ===========  ==============================

Every one is exact (no saturation): vpdpbusd adds its four u8 x s8 products in int32 (the
pmaddubsw path, which saturates int16 pairs, is never used), sdot likewise, and smull widens
each product to int16 (|a * w| <= 2^14) before pairwise adds in int32.

The weights are packed so that one ``lanes x 4`` block is contiguous (``[.., lanes, 4]``);
the activations' 4 input channels must be contiguous (NHWC). LLVM 22 types vpdpbusd's operands
as ``<64 x i8>``; TVM's own VNNI intrinsic still passes ``<16 x i32>`` and fails to build, so
these are edgec's.
"""

from __future__ import annotations

import dataclasses

from tvm.s_tir import TensorIntrin
from tvm.script import tirx as T
from tvm.target import Target

from edgec.schedules.target_info import cpu_features


@dataclasses.dataclass(frozen=True)
class DotIsa:
    name: str             # vnni, sdot, neon
    lanes: int            # int32 accumulators per instruction
    activation: str       # "uint8" or "int8": what the instruction multiplies the weights by
    intrinsic: str        # the registered TensorIntrin
    mnemonics: tuple[str, ...]  # what the disassembly of a library using it must contain

    @property
    def group(self) -> int:
        return 4


def _description(lanes: int, a_dtype: str):
    @T.prim_func(s_tir=True)
    def desc(a: T.handle, b: T.handle, c: T.handle) -> None:
        A = T.match_buffer(a, (4,), a_dtype, offset_factor=1)
        B = T.match_buffer(b, (lanes, 4), "int8", offset_factor=1)
        C = T.match_buffer(c, (lanes,), "int32", offset_factor=1, scope="local")
        with T.sblock("root"):
            T.reads(C[0:lanes], A[0:4], B[0:lanes, 0:4])
            T.writes(C[0:lanes])
            for i in T.serial(0, lanes):
                for k in T.serial(0, 4):
                    with T.sblock("update"):
                        vi, vk = T.axis.remap("SR", [i, k])
                        C[vi] = C[vi] + T.cast(A[vk], "int32") * T.cast(B[vi, vk], "int32")

    return desc


@T.prim_func(s_tir=True)
def _vnni_impl(a: T.handle, b: T.handle, c: T.handle) -> None:
    A = T.match_buffer(a, (4,), "uint8", offset_factor=1)
    B = T.match_buffer(b, (16, 4), "int8", offset_factor=1)
    C = T.match_buffer(c, (16,), "int32", offset_factor=1, scope="local")
    with T.sblock("root"):
        T.reads(C[0:16], A[0:4], B[0:16, 0:4])
        T.writes(C[0:16])
        word = T.reinterpret(A.vload([0], "uint8x4"), dtype="int32")
        C[T.ramp(T.int32(0), 1, 16)] = T.call_llvm_pure_intrin(
            T.llvm_lookup_intrinsic_id("llvm.x86.avx512.vpdpbusd.512"),
            C.vload([0], dtype="int32x16"),
            T.reinterpret(T.broadcast(word, 16), dtype="uint8x64"),
            B.vload([0, 0], dtype="int8x64"),
            dtype="int32x16")


@T.prim_func(s_tir=True)
def _vnni8_impl(a: T.handle, b: T.handle, c: T.handle) -> None:
    A = T.match_buffer(a, (4,), "uint8", offset_factor=1)
    B = T.match_buffer(b, (8, 4), "int8", offset_factor=1)
    C = T.match_buffer(c, (8,), "int32", offset_factor=1, scope="local")
    with T.sblock("root"):
        T.reads(C[0:8], A[0:4], B[0:8, 0:4])
        T.writes(C[0:8])
        word = T.reinterpret(A.vload([0], "uint8x4"), dtype="int32")
        C[T.ramp(T.int32(0), 1, 8)] = T.call_llvm_pure_intrin(
            T.llvm_lookup_intrinsic_id("llvm.x86.avx512.vpdpbusd.256"),
            C.vload([0], dtype="int32x8"),
            T.reinterpret(T.broadcast(word, 8), dtype="uint8x32"),
            B.vload([0, 0], dtype="int8x32"),
            dtype="int32x8")


@T.prim_func(s_tir=True)
def _sdot_impl(a: T.handle, b: T.handle, c: T.handle) -> None:
    A = T.match_buffer(a, (4,), "int8", offset_factor=1)
    B = T.match_buffer(b, (4, 4), "int8", offset_factor=1)
    C = T.match_buffer(c, (4,), "int32", offset_factor=1, scope="local")
    with T.sblock("root"):
        T.reads(C[0:4], A[0:4], B[0:4, 0:4])
        T.writes(C[0:4])
        word = T.reinterpret(A.vload([0], "int8x4"), dtype="int32")
        C[T.ramp(T.int32(0), 1, 4)] = T.call_llvm_pure_intrin(
            T.llvm_lookup_intrinsic_id("llvm.aarch64.neon.sdot.v4i32.v16i8"),
            C.vload([0], dtype="int32x4"),
            T.reinterpret(T.broadcast(word, 4), dtype="int8x16"),
            B.vload([0, 0], dtype="int8x16"),
            dtype="int32x4")


@T.prim_func(s_tir=True)
def _neon_impl(a: T.handle, b: T.handle, c: T.handle) -> None:
    A = T.match_buffer(a, (4,), "int8", offset_factor=1)
    B = T.match_buffer(b, (4, 4), "int8", offset_factor=1)
    C = T.match_buffer(c, (4,), "int32", offset_factor=1, scope="local")
    with T.sblock("root"):
        T.reads(C[0:4], A[0:4], B[0:4, 0:4])
        T.writes(C[0:4])
        word = T.reinterpret(A.vload([0], "int8x4"), dtype="int32")
        twice = T.reinterpret(T.broadcast(word, 2), dtype="int8x8")
        weights = B.vload([0, 0], dtype="int8x16")
        # lanes 0-1 (low half) and 2-3 (high half): 8 products each, widened to int16
        low = T.call_llvm_pure_intrin(
            T.llvm_lookup_intrinsic_id("llvm.aarch64.neon.smull.v8i16"),
            twice, T.vectorlow(weights, dtype="int8x8"), dtype="int16x8")
        high = T.call_llvm_pure_intrin(
            T.llvm_lookup_intrinsic_id("llvm.aarch64.neon.smull.v8i16"),
            twice, T.vectorhigh(weights, dtype="int8x8"), dtype="int16x8")
        # pairs summed into int32 (4 per half), then adjacent pairs again: one sum per lane
        low32 = T.call_llvm_pure_intrin(
            T.llvm_lookup_intrinsic_id("llvm.aarch64.neon.saddlp.v4i32.v8i16"), low,
            dtype="int32x4")
        high32 = T.call_llvm_pure_intrin(
            T.llvm_lookup_intrinsic_id("llvm.aarch64.neon.saddlp.v4i32.v8i16"), high,
            dtype="int32x4")
        C[T.ramp(T.int32(0), 1, 4)] = C.vload([0], dtype="int32x4") + T.call_llvm_pure_intrin(
            T.llvm_lookup_intrinsic_id("llvm.aarch64.neon.addp.v4i32"), low32, high32,
            dtype="int32x4")


ISAS = {
    "vnni": DotIsa("vnni", 16, "uint8", "edgec_dot_16x4_u8s8_vnni", ("vpdpbusd",)),
    "vnni8": DotIsa("vnni8", 8, "uint8", "edgec_dot_8x4_u8s8_vnni", ("vpdpbusd",)),
    "sdot": DotIsa("sdot", 4, "int8", "edgec_dot_4x4_s8s8_sdot", ("sdot",)),
    "neon": DotIsa("neon", 4, "int8", "edgec_dot_4x4_s8s8_neon", ("smull", "saddlp")),
}
_IMPLS = {"vnni": _vnni_impl, "vnni8": _vnni8_impl, "sdot": _sdot_impl, "neon": _neon_impl}
for _isa in ISAS.values():
    TensorIntrin.register(_isa.intrinsic, _description(_isa.lanes, _isa.activation),
                          _IMPLS[_isa.name], override=True)


def dot_isas(target: Target | None) -> tuple[DotIsa, ...]:
    """The dot-product instructions int8 kernels can use on ``target``, widest first (a conv
    takes the first whose lanes divide its output channels); empty: int32 kernels."""
    if target is None or target.kind.name != "llvm":
        return ()
    features = cpu_features(target)
    triple = str(target.attrs.get("mtriple", "") or "")
    if "avx512vnni" in features and "avx512bw" in features:
        return (ISAS["vnni"], ISAS["vnni8"]) if "avx512vl" in features else (ISAS["vnni"],)
    if "avxvnni" in features:
        return (ISAS["vnni8"],)  # the same instruction, VEX-encoded (AVX-VNNI, no AVX-512)
    if triple.startswith("aarch64"):
        return (ISAS["sdot"],) if "dotprod" in features else (ISAS["neon"],)
    return ()


def dot_isa(target: Target | None) -> DotIsa | None:
    """The widest dot-product instruction on ``target``, or None."""
    isas = dot_isas(target)
    return isas[0] if isas else None
