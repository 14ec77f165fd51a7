//===- LoweringUtils.h - Helpers shared by the rotor lowerings ---*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_CONVERSION_LOWERINGUTILS_H
#define ROTOR_CONVERSION_LOWERINGUTILS_H

#include "rotor/Dialect/Rotor/RotorOps.h"

#include "mlir/Dialect/Utils/StructuredOpsUtils.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

#include "rotor/Dialect/Rotor/RotorOps.h"

namespace mlir::rotor {

/// The size of dimension `dim` of tensor `v`, as an index value.
Value getDimValue(OpBuilder &b, Location loc, Value v, int64_t dim);

/// The size of dimension `dim` of tensor `v`: an attribute when static, else
/// a `tensor.dim`.
OpFoldResult getDim(OpBuilder &b, Location loc, Value v, int64_t dim);

/// A `tensor.empty` of `type` whose dynamic sizes are taken from `sizes`
/// (one entry per dimension of `type`; static entries are ignored).
Value createEmpty(OpBuilder &b, Location loc, RankedTensorType type,
                  ArrayRef<OpFoldResult> sizes);

/// The type in which rotor lowerings accumulate values of type `elem`:
/// f64 for f64, f32 otherwise.
FloatType getAccumulationType(Type elem);

/// Converts a scalar float between float types (extf, truncf, or nothing;
/// f64 to a 16-bit type goes through f32).
Value convertFloat(OpBuilder &b, Location loc, Value v, Type to);

/// A scalar float constant of type `type`.
Value createFloatConstant(OpBuilder &b, Location loc, Type type, double value);

/// An index constant.
Value createIndexConstant(OpBuilder &b, Location loc, int64_t value);

/// The value of a one-element integer tensor (shape [] or [1], a run-time
/// position such as rotor.cache_write's `start`) as a signed index.
Value extractIndexScalar(OpBuilder &b, Location loc, Value oneElement);

/// clamp(start + count, 0, limit) in signed index arithmetic that cannot
/// overflow for any `start` (count and limit are sizes, >= 0).
Value clampedEnd(OpBuilder &b, Location loc, Value start, Value count,
                 Value limit);

/// An scf.for from `lb` to `ub` by the constant `step`, without iteration
/// arguments; `body` builds the loop body (the terminator is added).
void forLoop(OpBuilder &b, Location loc, Value lb, Value ub, int64_t step,
             function_ref<void(OpBuilder &, Location, Value)> body);

/// The visibility predicate of `mask` (`MaskAttr::isVisible` in IR) for
/// query positions `qpos` and key positions `kpos`: index or signless integer
/// values, or vectors of them, both of the same type. Returns i1, or a vector
/// of i1 of the same shape. Used by the attention kernel and by plugins that
/// accept `#rotor.mask` (docs/extending.md).
Value buildMaskPredicate(OpBuilder &b, Location loc, MaskAttr mask,
                         Value qpos, Value kpos);

/// `linalg.generic` iterator lists.
SmallVector<utils::IteratorType> parallelIterators(int64_t n);

/// Σ_p g[p, n] · x[p, k] over every leading index p of g (…, N) and x (…, K):
/// the (N, K) sum of outer products, accumulated and returned in `acc`.
Value sumOuterProducts(OpBuilder &b, Location loc, Value g, Value x,
                       FloatType acc);

/// The parameters of a rotary embedding (rotor.rope, or the fused rope of
/// rotor.attention).
struct RopeParams {
  Value learnedBase;         ///< 0-D tensor, or null
  std::optional<double> base; ///< used when there is no learned base
  int64_t rotaryDim;         ///< static, even
  RopeScalingAttr scaling;   ///< or null
  bool transpose = false;    ///< rotate by -angle (rotor.rope's transpose)
};

/// The cos and sin tables of a rotary embedding at `positions` ((S) or
/// (B, S) integers): tensors of shape positions x rotaryDim/2 in `acc`,
/// with the angles formed in f64 (accurate at position 10^6) and YaRN's
/// attention factor applied.
std::pair<Value, Value> buildRopeTables(OpBuilder &b, Location loc,
                                        Value positions,
                                        const RopeParams &params,
                                        FloatType acc);

} // namespace mlir::rotor

#endif // ROTOR_CONVERSION_LOWERINGUTILS_H
