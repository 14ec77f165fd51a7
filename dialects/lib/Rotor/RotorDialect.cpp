//===- RotorDialect.cpp - The rotor dialect ---------------------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/Dialect/Rotor/RotorDialect.h"
#include "rotor/Dialect/Rotor/RotorOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::rotor;

#include "rotor/Dialect/Rotor/RotorDialect.cpp.inc"

void RotorDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "rotor/Dialect/Rotor/RotorOps.cpp.inc"
      >();
  registerAttributes();
}

/// Folds produce dense constants; they become `arith.constant`.
Operation *RotorDialect::materializeConstant(OpBuilder &builder,
                                             Attribute value, Type type,
                                             Location loc) {
  auto typed = dyn_cast<TypedAttr>(value);
  if (!typed || typed.getType() != type)
    return nullptr;
  return arith::ConstantOp::create(builder, loc, type, typed);
}
