//===- MatmulKernel.h - A vectorized x · W loop nest -------------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_CONVERSION_MATMULKERNEL_H
#define ROTOR_CONVERSION_MATMULKERNEL_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

namespace mlir::rotor {

/// How a weight matrix is laid out.
enum class WeightLayout {
  NK, ///< (out features, in features): nn.Linear, y = x · Wᵀ
  KN, ///< (in features, out features): y = x · W
};

/// Builds y = x · W (+ bias) over the last dimension of the tensor `x` as a
/// vectorized loop nest on buffers (see MatmulKernel.cpp), returning the
/// result tensor of `resultType`. Accumulates in f32 (f64 for f64). Fails
/// (building nothing) when `w` has a dynamic shape.
FailureOr<Value> buildVectorMatmul(OpBuilder &b, Location loc, Value x,
                                   Value w, Value bias, WeightLayout layout,
                                   RankedTensorType resultType);

} // namespace mlir::rotor

#endif // ROTOR_CONVERSION_MATMULKERNEL_H
