//===- DType.h - Element type and device helpers ----------------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_SRC_DTYPE_H
#define ROTOR_SRC_DTYPE_H

#include "rotor/runtime.h"

#include <optional>
#include <string_view>

namespace rotor {

/// True if `dtype` is one of the rotor_dtype enumerators.
bool isValidDType(rotor_dtype dtype);

/// True if `device` is one of the rotor_device enumerators.
bool isValidDevice(rotor_device device);

/// Parses a manifest dtype name.
std::optional<rotor_dtype> parseDTypeName(std::string_view name);

/// "f32, f64, bf16, f16, i32, i64", for messages.
const char *dtypeNameList();

} // namespace rotor

#endif // ROTOR_SRC_DTYPE_H
