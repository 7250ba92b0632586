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
DOT_F32 = "edgec_dot_f32"
MIN_LENGTH = 4


# kind -> (operand dtype, accumulator dtype, C function)
KINDS = {"s8": ("int8", "int32", DOT_S8), "f32": ("float32", "float32", DOT_F32)}


def _register(kind: str, n: int) -> str:
    operand, accumulator, function = KINDS[kind]
    name = f"{function}_{n}"
    if s_tir.TensorIntrin.get(name, allow_missing=True) is not None:
        return name

    @T.prim_func(s_tir=True)
    def desc(a: T.handle, b: T.handle, c: T.handle) -> None:
        A = T.match_buffer(a, (n,), operand, offset_factor=1)
        B = T.match_buffer(b, (n,), operand, offset_factor=1)
        C = T.match_buffer(c, (1,), accumulator, offset_factor=1)
        with T.sblock("root"):
            T.reads(C[0], A[0:n], B[0:n])
            T.writes(C[0])
            for i in range(n):
                with T.sblock("update"):
                    vi = T.axis.reduce(n, i)
                    C[0] = C[0] + T.Cast(accumulator, A[vi]) * T.Cast(accumulator, B[vi])

    @T.prim_func(s_tir=True)
    def impl(a: T.handle, b: T.handle, c: T.handle) -> None:
        A = T.match_buffer(a, (n,), operand, offset_factor=1)
        B = T.match_buffer(b, (n,), operand, offset_factor=1)
        C = T.match_buffer(c, (1,), accumulator, offset_factor=1)
        with T.sblock("root"):
            T.reads(C[0], A[0:n], B[0:n])
            T.writes(C[0])
            C[0] = C[0] + T.call_extern(accumulator, function, A.access_ptr("r"),
                                        B.access_ptr("r"), n)

    s_tir.TensorIntrin.register(name, desc, impl)
    return name


def tensorize_dot(sch: s_tir.Schedule, block, float_too: bool = False) -> bool:
    """Replace ``block``'s innermost loop by an ``edgec_dot_s8`` call (``edgec_dot_f32`` too
    with ``float_too``), if it is a dot product over both operands' contiguous last axis; the
    schedule is unchanged otherwise."""
    loops = sch.get_loops(block)
    if not loops:
        return False
    try:
        n = int(sch.get(loops[-1]).extent)
    except TypeError:
        return False
    if n < MIN_LENGTH:
        return False
    for kind in ("s8", "f32") if float_too else ("s8",):
        try:
            sch.tensorize(loops[-1], _register(kind, n))
            return True
        except (s_tir.ScheduleError, ValueError, RuntimeError):
            continue
    return False


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

# With Helium only (the kernels of other cores keep their loops): four float lanes per VFMA.
C_SOURCE_F32 = """\
#include <arm_mve.h>
/* float32 dot product: four products per Helium VFMA, the lanes summed at the end. */
static inline float edgec_dot_f32(const void *a_ptr, const void *b_ptr, int32_t n) {
  const float *a = (const float *)a_ptr;
  const float *b = (const float *)b_ptr;
  float32x4_t sum = vdupq_n_f32(0.0f);
  for (; n >= 4; n -= 4, a += 4, b += 4) sum = vfmaq_f32(sum, vld1q_f32(a), vld1q_f32(b));
  float acc = (vgetq_lane_f32(sum, 0) + vgetq_lane_f32(sum, 1)) +
              (vgetq_lane_f32(sum, 2) + vgetq_lane_f32(sum, 3));
  for (; n > 0; --n) acc += *a++ * *b++;
  return acc;
}
"""
