//===- AlibiOps.h - The alibi dialect and its op ----------------*- C++ -*-===//
//
// Part of the Rotor project: the out-of-tree extension example.
//
//===----------------------------------------------------------------------===//

#ifndef ALIBI_ALIBIOPS_H
#define ALIBI_ALIBIOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "rotor/Dialect/Rotor/RotorOps.h"

#include "alibi/AlibiDialect.h.inc"

#define GET_OP_CLASSES
#include "alibi/AlibiOps.h.inc"

namespace mlir::alibi {

/// The ALiBi slopes of `numHeads` heads with maximum bias `maxBias` (the
/// paper's geometric sequence; see alibi.attention).
llvm::SmallVector<double> alibiSlopes(int64_t numHeads, double maxBias);

/// Attaches rotor::DifferentiableOpInterface to alibi.attention (its rule
/// emits alibi.attention_grad) when the alibi dialect loads
/// (lib/AlibiGradient.cpp).
void registerAlibiGradients(DialectRegistry &registry);

} // namespace mlir::alibi

#endif // ALIBI_ALIBIOPS_H
