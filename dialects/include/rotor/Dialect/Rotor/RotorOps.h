//===- RotorOps.h - Operations and attributes of the rotor dialect -*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_DIALECT_ROTOR_ROTOROPS_H
#define ROTOR_DIALECT_ROTOR_ROTOROPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "rotor/Dialect/Rotor/RotorDialect.h"

#include "rotor/Dialect/Rotor/RotorEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "rotor/Dialect/Rotor/RotorAttrs.h.inc"

#include "rotor/Dialect/Rotor/RotorInterfaces.h.inc"

#define GET_OP_CLASSES
#include "rotor/Dialect/Rotor/RotorOps.h.inc"

namespace mlir {
class DialectRegistry;
namespace rotor {
/// Attaches DifferentiableOpInterface to the upstream ops that frontends
/// emit between rotor ops (tensor casts, reshapes, slices, concatenations,
/// float extensions and truncations); see RotorVjp.cpp.
void registerDifferentiableOpInterfaceExternalModels(DialectRegistry &registry);

/// Sums `grad` over the dimensions along which a value of type `target` was
/// broadcast to `grad`'s shape (NumPy rules: missing leading dimensions and
/// static size-1 dimensions), giving a tensor of type `target`: the
/// cotangent of a broadcast operand.
Value sumToShape(OpBuilder &b, Location loc, Value grad,
                 RankedTensorType target);

/// Whether `attr` is a square floating-point identity matrix (ones on the
/// diagonal, zeros elsewhere): `rotor.rotate` by it folds away, and the CUDA
/// target computes it instead of embedding it.
bool isIdentityMatrix(Attribute attr);
} // namespace rotor
} // namespace mlir

#endif // ROTOR_DIALECT_ROTOR_ROTOROPS_H
