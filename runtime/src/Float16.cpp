//===- Float16.cpp - bf16 and f16 conversions -----------------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// The f16 conversions follow Fabian Giesen's branch-light algorithms
// (float_to_half_fast3_rtne, half_to_float); they rely on the default
// round-to-nearest-even floating-point mode.
//
//===----------------------------------------------------------------------===//

#include "rotor/Float16.h"

#include <cstring>

namespace {
uint32_t bitsOf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

float floatOf(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}
} // namespace

float rotor::bf16ToFloat(uint16_t bits) {
  return floatOf(static_cast<uint32_t>(bits) << 16);
}

uint16_t rotor::floatToBF16(float value) {
  uint32_t bits = bitsOf(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) // NaN: keep it NaN, make it quiet.
    return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  uint32_t roundingBias = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + roundingBias) >> 16);
}

float rotor::halfToFloat(uint16_t bits) {
  const uint32_t shiftedExp = 0x7c00u << 13;
  uint32_t out = static_cast<uint32_t>(bits & 0x7fffu) << 13;
  uint32_t exp = shiftedExp & out;
  out += (127u - 15u) << 23;
  if (exp == shiftedExp) { // Inf or NaN.
    out += (128u - 16u) << 23;
  } else if (exp == 0) { // Zero or subnormal: renormalize.
    out += 1u << 23;
    out = bitsOf(floatOf(out) - floatOf(113u << 23));
  }
  out |= static_cast<uint32_t>(bits & 0x8000u) << 16;
  return floatOf(out);
}

uint16_t rotor::floatToHalf(float value) {
  const uint32_t infinity = 255u << 23;
  const uint32_t halfOverflow = (127u + 16u) << 23;
  const uint32_t denormMagic = ((127u - 15u) + (23u - 10u) + 1u) << 23;
  uint32_t bits = bitsOf(value);
  uint32_t sign = bits & 0x80000000u;
  bits ^= sign;
  uint16_t out;
  if (bits >= halfOverflow) {
    // Inf stays Inf, NaN becomes a quiet NaN, finite overflow becomes Inf.
    if (bits > infinity)
      out = static_cast<uint16_t>(0x7e00u | ((bits >> 13) & 0x3ffu));
    else
      out = 0x7c00u;
  } else if (bits < (113u << 23)) {
    // The result is subnormal or zero: let the FPU round by aligning the
    // mantissa with a magic addend.
    out = static_cast<uint16_t>(bitsOf(floatOf(bits) + floatOf(denormMagic)) -
                                denormMagic);
  } else {
    uint32_t mantissaOdd = (bits >> 13) & 1u;
    bits += ((15u - 127u) << 23) + 0xfffu;
    bits += mantissaOdd;
    out = static_cast<uint16_t>(bits >> 13);
  }
  return static_cast<uint16_t>(out | (sign >> 16));
}
