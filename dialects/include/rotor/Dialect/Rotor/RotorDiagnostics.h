//===- RotorDiagnostics.h - Helpers for rotor diagnostics --------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_DIALECT_ROTOR_ROTORDIAGNOSTICS_H
#define ROTOR_DIALECT_ROTOR_ROTORDIAGNOSTICS_H

#include <cstdio>
#include <string>

namespace mlir::rotor {

/// A double as a person writes it in a message: `0.5`, `-30`, `inf`
/// (shortest %g form with up to 15 significant digits).
inline std::string formatNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.15g", v);
  return buf;
}

} // namespace mlir::rotor

#endif // ROTOR_DIALECT_ROTOR_ROTORDIAGNOSTICS_H
