//===- Float16.h - bf16 and f16 conversions ---------------------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Conversions between float and the 16-bit patterns of bf16 and IEEE half
// (f16). Float to 16-bit conversions round to nearest even, map overflow to
// infinity and keep NaNs NaN (quiet).
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_FLOAT16_H
#define ROTOR_FLOAT16_H

#include <cstdint>

namespace rotor {

/// Widens a bf16 bit pattern to float (exact).
float bf16ToFloat(uint16_t bits);

/// Narrows a float to bf16, rounding to nearest even.
uint16_t floatToBF16(float value);

/// Widens an IEEE half bit pattern to float (exact).
float halfToFloat(uint16_t bits);

/// Narrows a float to IEEE half, rounding to nearest even.
uint16_t floatToHalf(float value);

} // namespace rotor

#endif // ROTOR_FLOAT16_H
