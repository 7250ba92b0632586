/*
 * Copyright the edgec authors.
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

/*!
 * \file builtin_fp16.h
 * \brief Conversions between IEEE 754 binary floating-point formats, done on their bits:
 *  `__truncXfYf2__` (to a narrower format) and `__extendXfYf2__` (to a wider one).
 *
 * This is edgec's own implementation of the interface that TVM's runtime sources expect
 * from <builtin_fp16.h>. It exists because TVM's PyPI wheel ships the runtime sources but
 * not this header; it was written from how src/runtime/builtin_fp16.cc uses it:
 *
 *   __truncXfYf2__<float, uint32_t, 23, uint16_t, uint16_t, 10>(a)   // float  -> half bits
 *   __truncXfYf2__<double, uint64_t, 52, uint16_t, uint16_t, 10>(a)  // double -> half bits
 *   __extendXfYf2__<uint16_t, uint16_t, 10, float, uint32_t, 23>(a)  // half bits -> float
 *
 * Template arguments: the source value type, an unsigned integer type of the same size
 * holding its bits, its number of fraction (significand) bits, then the same three for the
 * destination. The exponent width is what remains after the sign and fraction bits.
 *
 * Semantics: rounding is to nearest, ties to even; values too large for the destination
 * become infinity; subnormals are produced and consumed; signed zeros and infinities are
 * kept; a NaN stays a NaN with the same sign, its leading payload bits kept and its quiet
 * bit set.
 */
#ifndef EDGEC_BUILTIN_FP16_H_
#define EDGEC_BUILTIN_FP16_H_

#include <cstdint>
#include <cstring>

namespace edgec_builtin_fp16 {

/*!
 * \brief Convert the bits of an IEEE binary value with kSrcBits total bits and kSrcSig
 *  fraction bits into the bits of the nearest value with kDstBits / kDstSig.
 */
template <int kSrcBits, int kSrcSig, int kDstBits, int kDstSig>
inline uint64_t ConvertBits(uint64_t a) {
  static_assert(kSrcBits <= 64 && kDstBits <= 64, "formats up to 64 bits");
  static_assert(kSrcSig >= 1 && kDstSig >= 1, "need at least one fraction bit");
  constexpr int kSrcExpBits = kSrcBits - kSrcSig - 1;
  constexpr int kDstExpBits = kDstBits - kDstSig - 1;
  static_assert(kSrcExpBits >= 2 && kDstExpBits >= 2, "need at least two exponent bits");
  constexpr uint64_t kSrcFracMask = (uint64_t{1} << kSrcSig) - 1;
  constexpr uint64_t kDstFracMask = (uint64_t{1} << kDstSig) - 1;
  constexpr uint64_t kSrcExpMax = (uint64_t{1} << kSrcExpBits) - 1;  // all ones: inf / NaN
  constexpr uint64_t kDstExpMax = (uint64_t{1} << kDstExpBits) - 1;
  constexpr int64_t kSrcBias = (int64_t{1} << (kSrcExpBits - 1)) - 1;
  constexpr int64_t kDstBias = (int64_t{1} << (kDstExpBits - 1)) - 1;

  const uint64_t sign = (a >> (kSrcBits - 1)) & 1;
  const uint64_t exp = (a >> kSrcSig) & kSrcExpMax;
  const uint64_t frac = a & kSrcFracMask;
  const uint64_t dst_sign = sign << (kDstBits - 1);
  const uint64_t dst_inf = kDstExpMax << kDstSig;

  if (exp == kSrcExpMax) {
    if (frac == 0) return dst_sign | dst_inf;
    // NaN: keep the leading payload bits, force the quiet bit (leading fraction bit).
    uint64_t payload;
    if constexpr (kDstSig >= kSrcSig) {
      payload = frac << (kDstSig - kSrcSig);
    } else {
      payload = frac >> (kSrcSig - kDstSig);
    }
    payload |= uint64_t{1} << (kDstSig - 1);
    return dst_sign | dst_inf | (payload & kDstFracMask);
  }
  if (exp == 0 && frac == 0) return dst_sign;  // signed zero

  // Normalize: |value| = sig * 2^(e - kSrcSig) with the leading 1 of sig at bit kSrcSig.
  int64_t e;
  uint64_t sig;
  if (exp == 0) {  // subnormal source
    e = 1 - kSrcBias;
    sig = frac;
    while ((sig >> kSrcSig) == 0) {
      sig <<= 1;
      --e;
    }
  } else {
    e = static_cast<int64_t>(exp) - kSrcBias;
    sig = frac | (uint64_t{1} << kSrcSig);
  }

  int64_t dst_exp = e + kDstBias;  // biased destination exponent if the result is normal
  // Right shift that brings sig to kDstSig fraction bits (negative: left shift, exact).
  int64_t shift = kSrcSig - kDstSig;
  if (dst_exp < 1) shift += 1 - dst_exp;  // subnormal result: fixed exponent 1 - kDstBias

  uint64_t q;
  if (shift <= 0) {
    q = sig << (-shift);
  } else if (shift > kSrcSig + 1) {
    // sig < 2^(kSrcSig + 1) <= half of the last kept bit: rounds to zero.
    q = 0;
  } else {
    q = sig >> shift;
    const uint64_t rem = sig & ((uint64_t{1} << shift) - 1);
    const uint64_t half = uint64_t{1} << (shift - 1);
    if (rem > half || (rem == half && (q & 1) != 0)) ++q;  // ties to even
  }

  if (dst_exp < 1) {
    // Subnormal result. If rounding carried into bit kDstSig, the bits already encode the
    // smallest normal number (exponent field 1, fraction 0).
    return dst_sign | q;
  }
  if ((q >> (kDstSig + 1)) != 0) {  // rounding carried out of the significand
    q >>= 1;
    ++dst_exp;
  }
  if (dst_exp >= static_cast<int64_t>(kDstExpMax)) return dst_sign | dst_inf;  // overflow
  return dst_sign | (static_cast<uint64_t>(dst_exp) << kDstSig) | (q & kDstFracMask);
}

/*! \brief Convert a value of SrcT (bits in SrcRepT) to DstT (bits in DstRepT). */
template <typename SrcT, typename SrcRepT, int kSrcSig, typename DstT, typename DstRepT,
          int kDstSig>
inline DstT Convert(SrcT a) {
  static_assert(sizeof(SrcT) == sizeof(SrcRepT), "source type and its bits differ in size");
  static_assert(sizeof(DstT) == sizeof(DstRepT), "target type and its bits differ in size");
  SrcRepT a_bits;
  std::memcpy(&a_bits, &a, sizeof(a_bits));
  const DstRepT r_bits = static_cast<DstRepT>(
      ConvertBits<static_cast<int>(sizeof(SrcRepT) * 8), kSrcSig,
                  static_cast<int>(sizeof(DstRepT) * 8), kDstSig>(static_cast<uint64_t>(a_bits)));
  DstT r;
  std::memcpy(&r, &r_bits, sizeof(r));
  return r;
}

}  // namespace edgec_builtin_fp16

/*! \brief Convert to a narrower IEEE format (round to nearest, ties to even). */
template <typename SRC_T, typename SRC_REP_T, int SRC_SIG_BITS, typename DST_T,
          typename DST_REP_T, int DST_SIG_BITS>
static inline DST_T __truncXfYf2__(SRC_T a) {
  static_assert(SRC_SIG_BITS > DST_SIG_BITS, "truncation goes to a narrower format");
  return edgec_builtin_fp16::Convert<SRC_T, SRC_REP_T, SRC_SIG_BITS, DST_T, DST_REP_T,
                                     DST_SIG_BITS>(a);
}

/*! \brief Convert to a wider IEEE format (always exact). */
template <typename SRC_T, typename SRC_REP_T, int SRC_SIG_BITS, typename DST_T,
          typename DST_REP_T, int DST_SIG_BITS>
static inline DST_T __extendXfYf2__(SRC_T a) {
  static_assert(SRC_SIG_BITS < DST_SIG_BITS, "extension goes to a wider format");
  return edgec_builtin_fp16::Convert<SRC_T, SRC_REP_T, SRC_SIG_BITS, DST_T, DST_REP_T,
                                     DST_SIG_BITS>(a);
}

#endif  // EDGEC_BUILTIN_FP16_H_
