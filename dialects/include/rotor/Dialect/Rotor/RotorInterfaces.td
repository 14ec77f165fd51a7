//===- RotorInterfaces.td - Rotor op interfaces ------------*- tablegen -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_DIALECT_ROTOR_INTERFACES_TD
#define ROTOR_DIALECT_ROTOR_INTERFACES_TD

include "mlir/IR/OpBase.td"

def Rotor_DifferentiableOpInterface : OpInterface<"DifferentiableOpInterface"> {
  let cppNamespace = "::mlir::rotor";
  let description = [{
    An op that knows its vector-Jacobian product (VJP): given the cotangents
    of its results (`∂L/∂result`), it builds the IR computing the cotangents
    of its operands (`∂L/∂operand = Σ ∂L/∂result · ∂result/∂operand`).

    The `rotor-autodiff` pass calls `buildVjp` on the ops of a forward
    function in reverse order, with the builder placed after the forward
    computation; the op's operands and results are the forward values, which
    the VJP may use (they are then kept alive for the backward pass, or
    recomputed by the checkpointing policy).

    * `resultCotangents` has one entry per result, of the result's type, or
      a null value when nothing depends on that result (read it as zero).
    * `operandCotangents` receives one entry per operand, of the operand's
      type, or a null value for an operand that is not differentiable
      (integer positions, ids, labels) or whose gradient the rule does not
      provide (the pass reports an error when such an operand depends on a
      differentiated argument).

    Rotor ops implement it in RotorVjp.cpp; the upstream ops a frontend
    emits (tensor reshapes, slices, concatenations, casts) get it through
    external models registered by
    `registerDifferentiableOpInterfaceExternalModels`. docs/autodiff.md lists
    every rule.
  }];
  let methods = [
    InterfaceMethod<[{
        Builds the cotangents of the operands from those of the results at
        the builder's insertion point. Returns failure, after emitting an
        error on the op, when the rule does not cover this instance (for
        example a cotangent for an op's auxiliary result).
      }],
      "::llvm::LogicalResult", "buildVjp",
      (ins "::mlir::OpBuilder &":$builder,
           "::mlir::ValueRange":$resultCotangents,
           "::llvm::SmallVectorImpl<::mlir::Value> &":$operandCotangents)>,
  ];
}

#endif // ROTOR_DIALECT_ROTOR_INTERFACES_TD
