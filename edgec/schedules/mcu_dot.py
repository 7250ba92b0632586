"""int8 dot products on Cortex-M: the innermost reduction of an int8 x int8 -> int32 kernel
(a pointwise convolution, a fully connected layer), when it walks both operands contiguously,
becomes one call to ``edgec_dot_s8(a, b, n)``, which the C back end defines in ``model.c``:
with Helium (Cortex-M55) sixteen products per ``VMLADAVA``; with the DSP extension
(Cortex-M4, M7) two pairs of int8 values per ``SMLAD`` (four values loaded per 32-bit word,
sign-extended by ``SXTB16``); elsewhere the plain loop. Measured on the emulated M55, int8
KWS: 14.4M instructions with the plain loop (gcc 12 -O3 vectorizing it), 11.0M with SMLAD,
6.3M with the Helium intrinsic; on the M4, 18.8M without the call, 13.4M with SMLAD. Kernels whose innermost reduction is strided (depthwise convolutions) or reads
through a padding test keep their loops (the tensorize pattern does not match them).
"""

from __future__ import annotations

from tvm import s_tir
from tvm.script import tirx as T

DOT_S8 = "edgec_dot_s8"
MIN_LENGTH = 4


def _intrin_name(n: int) -> str:
    return f"{DOT_S8}_{n}"


def _register(n: int) -> str:
    name = _intrin_name(n)
    if s_tir.TensorIntrin.get(name, allow_missing=True) is not None:
        return name

    @T.prim_func(s_tir=True)
    def desc(a: T.handle, b: T.handle, c: T.handle) -> None:
        A = T.match_buffer(a, (n,), "int8", offset_factor=1)
        B = T.match_buffer(b, (n,), "int8", offset_factor=1)
        C = T.match_buffer(c, (1,), "int32", offset_factor=1)
        with T.sblock("root"):
            T.reads(C[0], A[0:n], B[0:n])
            T.writes(C[0])
            for i in range(n):
                with T.sblock("update"):
                    vi = T.axis.reduce(n, i)
                    C[0] = C[0] + T.Cast("int32", A[vi]) * T.Cast("int32", B[vi])

    @T.prim_func(s_tir=True)
    def impl(a: T.handle, b: T.handle, c: T.handle) -> None:
        A = T.match_buffer(a, (n,), "int8", offset_factor=1)
        B = T.match_buffer(b, (n,), "int8", offset_factor=1)
        C = T.match_buffer(c, (1,), "int32", offset_factor=1)
        with T.sblock("root"):
            T.reads(C[0], A[0:n], B[0:n])
            T.writes(C[0])
            C[0] = C[0] + T.call_extern("int32", DOT_S8, A.access_ptr("r"), B.access_ptr("r"),
                                        n)

    s_tir.TensorIntrin.register(name, desc, impl)
    return name


def tensorize_dot(sch: s_tir.Schedule, block) -> bool:
    """Replace ``block``'s innermost loop by an ``edgec_dot_s8`` call, if it is an int8 dot
    product over both operands' contiguous last axis; the schedule is unchanged otherwise."""
    loops = sch.get_loops(block)
    if not loops:
        return False
    extent = sch.get(loops[-1]).extent
    try:
        n = int(extent)
    except TypeError:
        return False
    if n < MIN_LENGTH:
        return False
    try:
        sch.tensorize(loops[-1], _register(n))
    except (s_tir.ScheduleError, ValueError, RuntimeError):
        return False
    return True


# The C definition the back end puts in model.c when a kernel calls it.
C_SOURCE = """\
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include <arm_mve.h>
#elif defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h>
#endif
/* int8 dot product: Helium (16 products per VMLADAVA) on cores with MVE, SMLAD (two per
 * instruction) on cores with the DSP extension, a plain loop elsewhere. */
static inline int32_t edgec_dot_s8(const void *a_ptr, const void *b_ptr, int32_t n) {
  const int8_t *a = (const int8_t *)a_ptr;
  const int8_t *b = (const int8_t *)b_ptr;
  int32_t acc = 0;
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
  for (; n >= 16; n -= 16, a += 16, b += 16) acc = vmladavaq_s8(acc, vld1q_s8(a), vld1q_s8(b));
#elif defined(__ARM_FEATURE_SIMD32)
  for (; n >= 4; n -= 4, a += 4, b += 4) {
    uint32_t va;
    uint32_t vb;
    memcpy(&va, a, 4);
    memcpy(&vb, b, 4);
    acc = __smlad(__sxtb16(va), __sxtb16(vb), acc);
    acc = __smlad(__sxtb16((va >> 8) | (va << 24)), __sxtb16((vb >> 8) | (vb << 24)), acc);
  }
#endif
  for (; n > 0; --n) acc += (int32_t)*a++ * (int32_t)*b++;
  return acc;
}
"""
