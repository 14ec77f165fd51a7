//===- RotorOps.h - Operations and attributes of the rotor dialect -*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_DIALECT_ROTOR_ROTOROPS_H
#define ROTOR_DIALECT_ROTOR_ROTOROPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "rotor/Dialect/Rotor/RotorDialect.h"

#include "rotor/Dialect/Rotor/RotorEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "rotor/Dialect/Rotor/RotorAttrs.h.inc"

#define GET_OP_CLASSES
#include "rotor/Dialect/Rotor/RotorOps.h.inc"

#endif // ROTOR_DIALECT_ROTOR_ROTOROPS_H
