//===- Passes.h - Rotor conversion passes ------------------------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_CONVERSION_PASSES_H
#define ROTOR_CONVERSION_PASSES_H

#include "mlir/Pass/Pass.h"

namespace mlir {
namespace arith { class ArithDialect; }
namespace bufferization { class BufferizationDialect; }
namespace linalg { class LinalgDialect; }
namespace math { class MathDialect; }
namespace memref { class MemRefDialect; }
namespace scf { class SCFDialect; }
namespace tensor { class TensorDialect; }
namespace vector { class VectorDialect; }
namespace LLVM { class LLVMDialect; }
} // namespace mlir

namespace mlir::rotor {

#define GEN_PASS_DECL
#include "rotor/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "rotor/Conversion/Passes.h.inc"

} // namespace mlir::rotor

#endif // ROTOR_CONVERSION_PASSES_H
