//===- Passes.h - Passes of the alibi plugin --------------------*- C++ -*-===//
//
// Part of the Rotor project: the out-of-tree extension example.
//
//===----------------------------------------------------------------------===//

#ifndef ALIBI_PASSES_H
#define ALIBI_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"

namespace mlir::alibi {

#define GEN_PASS_DECL
#include "alibi/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "alibi/Passes.h.inc"

} // namespace mlir::alibi

#endif // ALIBI_PASSES_H
