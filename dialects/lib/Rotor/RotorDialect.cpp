//===- RotorDialect.cpp - The rotor dialect ---------------------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/Dialect/Rotor/RotorDialect.h"
#include "rotor/Dialect/Rotor/RotorOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/Transforms/InliningUtils.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::rotor;

#include "rotor/Dialect/Rotor/RotorDialect.cpp.inc"

namespace {
/// Rotor ops are pure tensor computations without regions: any of them may
/// be inlined anywhere (the CUDA target inlines each model's per-layer
/// functions into the entries).
struct RotorInlinerInterface : public DialectInlinerInterface {
  using DialectInlinerInterface::DialectInlinerInterface;
  bool isLegalToInline(Operation *, Region *, bool, IRMapping &) const final {
    return true;
  }
};
} // namespace

void RotorDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "rotor/Dialect/Rotor/RotorOps.cpp.inc"
      >();
  registerAttributes();
  addInterfaces<RotorInlinerInterface>();
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
