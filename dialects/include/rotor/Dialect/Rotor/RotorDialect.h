//===- RotorDialect.h - The rotor dialect ------------------------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_DIALECT_ROTOR_ROTORDIALECT_H
#define ROTOR_DIALECT_ROTOR_ROTORDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dialect.h"

#include "rotor/Dialect/Rotor/RotorDialect.h.inc"

#endif // ROTOR_DIALECT_ROTOR_ROTORDIALECT_H
