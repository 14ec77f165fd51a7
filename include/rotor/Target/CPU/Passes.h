//===- Passes.h - Passes of Rotor's CPU target -------------------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_TARGET_CPU_PASSES_H
#define ROTOR_TARGET_CPU_PASSES_H

#include "mlir/Pass/Pass.h"

namespace mlir {
namespace arith { class ArithDialect; }
namespace linalg { class LinalgDialect; }
namespace math { class MathDialect; }
namespace vector { class VectorDialect; }
namespace LLVM { class LLVMDialect; }
} // namespace mlir

namespace mlir::rotor {

#define GEN_PASS_DECL
#include "rotor/Target/CPU/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "rotor/Target/CPU/Passes.h.inc"

} // namespace mlir::rotor

#endif // ROTOR_TARGET_CPU_PASSES_H
