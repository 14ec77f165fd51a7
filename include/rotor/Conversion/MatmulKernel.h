//===- MatmulKernel.h - A vectorized x · W loop nest -------------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_CONVERSION_MATMULKERNEL_H
#define ROTOR_CONVERSION_MATMULKERNEL_H

#include "rotor/Dialect/Rotor/RotorOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

namespace mlir::rotor {

/// How a weight matrix is laid out.
enum class WeightLayout {
  NK, ///< (out features, in features): nn.Linear, y = x · Wᵀ
  KN, ///< (in features, out features): y = x · W
};

/// What the kernel applies to its accumulators before storing them:
///   y = act(x · W + bias) + residual, or, with `upWeight`,
///   y = silu(x · W) * (x · U) + residual.
struct MatmulEpilogue {
  Activation activation = Activation::none;
  Value residual; ///< a tensor of the result's type, or null
  Value upWeight; ///< U, laid out like W, or null
  /// The RMS-norm prologue: x is used as rms_norm(x, normWeight,
  /// normEpsilon) (normWeight of shape (K), or null for none).
  Value normWeight;
  double normEpsilon = 0.0;
};

/// `act` applied to the float scalar or vector `v`.
Value applyActivation(OpBuilder &b, Location loc, Activation act, Value v);

/// Builds y = x · W (+ bias) over the last dimension of the tensor `x` as a
/// vectorized loop nest on buffers (see MatmulKernel.cpp), returning the
/// result tensor of `resultType`. Accumulates in f32 (f64 for f64). With
/// `parallel`, the blocks of output features are an scf.parallel loop whose
/// body calls a private function (so that each thread has its own packed
/// weight block). Fails (building nothing) when `w` has a dynamic shape.
FailureOr<Value> buildVectorMatmul(OpBuilder &b, Location loc, Value x,
                                   Value w, Value bias, WeightLayout layout,
                                   RankedTensorType resultType, bool parallel,
                                   const MatmulEpilogue &epilogue = {});

} // namespace mlir::rotor

#endif // ROTOR_CONVERSION_MATMULKERNEL_H
