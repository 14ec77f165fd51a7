//===- TensorSummary.h - Human-readable tensor summaries --------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_TOOLS_TENSORSUMMARY_H
#define ROTOR_TOOLS_TENSORSUMMARY_H

#include "rotor/runtime.h"

#include <cstdint>
#include <ostream>
#include <string>

namespace rotor::tool {

/// Element `index` (row-major) of `tensor` as a double (bf16 and f16
/// widened; i64 values beyond 2^53 rounded).
double elementAsDouble(const rotor_tensor *tensor, int64_t index);

/// Prints two lines about `tensor`: dtype, shape and statistics, then the
/// leading values:
///
///   NAME: f32[4x5] min=-1 max=2.5 mean=0.25
///     [-1, 0, 2.5, 0, 0, 1, 0, 0, ...] (first 8 of 20)
///
/// NaNs are counted separately and left out of min/max/mean.
void printSummary(std::ostream &os, const std::string &name,
                  const rotor_tensor *tensor);

} // namespace rotor::tool

#endif // ROTOR_TOOLS_TENSORSUMMARY_H
