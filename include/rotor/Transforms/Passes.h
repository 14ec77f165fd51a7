//===- Passes.h - Rotor-level optimization passes ----------------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_TRANSFORMS_PASSES_H
#define ROTOR_TRANSFORMS_PASSES_H

#include "mlir/Pass/Pass.h"

namespace mlir::rotor {

#define GEN_PASS_DECL
#include "rotor/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "rotor/Transforms/Passes.h.inc"

} // namespace mlir::rotor

#endif // ROTOR_TRANSFORMS_PASSES_H
