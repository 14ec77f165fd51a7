//===- RotorVjp.cpp - Vector-Jacobian products of the rotor ops -------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// DifferentiableOpInterface for the rotor ops and, through external models,
// for the upstream tensor ops that frontends emit between them. Each rule is
// written above its implementation as `∂operand = f(∂result, ...)`; ∂x
// stands for the cotangent ∂L/∂x of the value x. docs/autodiff.md lists the
// rules with their derivations.
//
// The rules build rotor ops where one exists (the cotangent of a linear
// layer's input is another linear layer), dedicated backward ops
// (rotor.*_grad) where the computation has no forward counterpart, and
// upstream ops for the data movement (transposes, reductions over broadcast
// dimensions, slices).
//
//===----------------------------------------------------------------------===//

#include "rotor/Dialect/Rotor/RotorOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectRegistry.h"

using namespace mlir;
using namespace mlir::rotor;

#include "rotor/Dialect/Rotor/RotorInterfaces.cpp.inc"

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// The size of dimension `d` of `v`: an attribute when static.
static OpFoldResult dimOf(OpBuilder &b, Location loc, Value v, int64_t d) {
  auto type = cast<RankedTensorType>(v.getType());
  if (!type.isDynamicDim(d))
    return b.getIndexAttr(type.getDimSize(d));
  return tensor::DimOp::create(b, loc, v, d).getResult();
}

/// A tensor of `type` filled with zeros; its dynamic sizes are those of
/// `like` (a tensor of the same rank).
static Value zerosLike(OpBuilder &b, Location loc, RankedTensorType type,
                       Value like) {
  SmallVector<Value> dynamic;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      dynamic.push_back(tensor::DimOp::create(b, loc, like, d));
  Value empty = tensor::EmptyOp::create(b, loc, type, dynamic);
  Value zero = arith::ConstantOp::create(
      b, loc, b.getFloatAttr(type.getElementType(), 0.0));
  return linalg::FillOp::create(b, loc, zero, empty).getResult(0);
}

/// `v` as a value of `type`, which has the same shape up to what is known
/// statically (a tensor.cast when the static information differs).
static Value castTo(OpBuilder &b, Location loc, Value v, Type type) {
  if (v.getType() == type)
    return v;
  return tensor::CastOp::create(b, loc, type, v);
}

Value mlir::rotor::sumToShape(OpBuilder &b, Location loc, Value grad,
                              RankedTensorType target) {
  auto type = cast<RankedTensorType>(grad.getType());
  int64_t rank = type.getRank(), offset = rank - target.getRank();
  // A dimension is reduced when it is missing from the target (leading) or
  // is a broadcast 1 there.
  SmallVector<bool> reduced(rank, false);
  bool any = false;
  for (int64_t d = 0; d < rank; ++d) {
    reduced[d] = d < offset || (target.getDimSize(d - offset) == 1 &&
                                type.getDimSize(d) != 1);
    any |= reduced[d];
  }
  if (!any)
    return castTo(b, loc, grad, target);

  SmallVector<int64_t> keptShape;
  SmallVector<OpFoldResult> keptSizes;
  SmallVector<AffineExpr> keptExprs;
  SmallVector<utils::IteratorType> iterators;
  for (int64_t d = 0; d < rank; ++d) {
    iterators.push_back(reduced[d] ? utils::IteratorType::reduction
                                   : utils::IteratorType::parallel);
    if (reduced[d])
      continue;
    keptShape.push_back(type.getDimSize(d));
    keptSizes.push_back(dimOf(b, loc, grad, d));
    keptExprs.push_back(b.getAffineDimExpr(d));
  }
  auto keptType = RankedTensorType::get(keptShape, type.getElementType());
  SmallVector<Value> dynamic;
  for (auto [i, size] : llvm::enumerate(keptSizes))
    if (keptType.isDynamicDim(i))
      dynamic.push_back(cast<Value>(size));
  Value init = linalg::FillOp::create(
                   b, loc,
                   arith::ConstantOp::create(
                       b, loc, b.getFloatAttr(type.getElementType(), 0.0))
                       .getResult(),
                   tensor::EmptyOp::create(b, loc, keptType, dynamic).getResult())
                   .getResult(0);
  SmallVector<AffineMap> maps = {
      b.getMultiDimIdentityMap(rank),
      AffineMap::get(rank, 0, keptExprs, b.getContext())};
  Value sum = linalg::GenericOp::create(
                  b, loc, keptType, grad, init, maps, iterators,
                  [](OpBuilder &nb, Location nl, ValueRange args) {
                    linalg::YieldOp::create(
                        nb, nl,
                        arith::AddFOp::create(nb, nl, args[0], args[1])
                            .getResult());
                  })
                  .getResult(0);
  if (keptType.getRank() == target.getRank())
    return castTo(b, loc, sum, target);

  // Put the broadcast 1s of the target back: each kept dimension takes the
  // unit dimensions before it; trailing ones join the last group.
  SmallVector<ReassociationIndices> groups;
  ReassociationIndices pending;
  SmallVector<int64_t> expandedShape;
  SmallVector<OpFoldResult> expandedSizes;
  int64_t kept = 0;
  for (int64_t t = 0; t < target.getRank(); ++t) {
    pending.push_back(t);
    if (reduced[t + offset]) {
      expandedShape.push_back(1);
      expandedSizes.push_back(b.getIndexAttr(1));
      continue;
    }
    expandedShape.push_back(keptShape[kept]);
    expandedSizes.push_back(keptSizes[kept]);
    ++kept;
    groups.push_back(pending);
    pending.clear();
  }
  if (!pending.empty() && !groups.empty())
    groups.back().append(pending.begin(), pending.end());
  auto expandedType =
      RankedTensorType::get(expandedShape, type.getElementType());
  Value expanded = tensor::ExpandShapeOp::create(b, loc, expandedType, sum,
                                                 groups, expandedSizes);
  return castTo(b, loc, expanded, target);
}

/// The transpose of a matrix.
static Value transpose2d(OpBuilder &b, Location loc, Value m) {
  auto type = cast<RankedTensorType>(m.getType());
  auto transposedType = RankedTensorType::get(
      {type.getDimSize(1), type.getDimSize(0)}, type.getElementType());
  SmallVector<Value> dynamic;
  for (int64_t d : {1, 0})
    if (type.isDynamicDim(d))
      dynamic.push_back(tensor::DimOp::create(b, loc, m, d));
  Value init = tensor::EmptyOp::create(b, loc, transposedType, dynamic);
  return linalg::TransposeOp::create(b, loc, m, init,
                                     ArrayRef<int64_t>{1, 0})
      .getResult()[0];
}

//===----------------------------------------------------------------------===//
// Elementwise ops
//===----------------------------------------------------------------------===//

/// ∂lhs = sum_to(∂y, lhs), ∂rhs = sum_to(∂y, rhs)
LogicalResult AddOp::buildVjp(OpBuilder &b, ValueRange resultCotangents,
                              SmallVectorImpl<Value> &operandCotangents) {
  Value dy = resultCotangents[0];
  for (Value operand : {getLhs(), getRhs()})
    operandCotangents.push_back(sumToShape(
        b, getLoc(), dy, cast<RankedTensorType>(operand.getType())));
  return success();
}

/// ∂lhs = sum_to(∂y · rhs, lhs), ∂rhs = sum_to(∂y · lhs, rhs)
LogicalResult MulOp::buildVjp(OpBuilder &b, ValueRange resultCotangents,
                              SmallVectorImpl<Value> &operandCotangents) {
  Location loc = getLoc();
  Value dy = resultCotangents[0];
  Value dl = MulOp::create(b, loc, dy, getRhs());
  operandCotangents.push_back(
      sumToShape(b, loc, dl, cast<RankedTensorType>(getLhs().getType())));
  Value dr = MulOp::create(b, loc, dy, getLhs());
  operandCotangents.push_back(
      sumToShape(b, loc, dr, cast<RankedTensorType>(getRhs().getType())));
  return success();
}

/// The VJP of a unary activation: ∂x = activation_grad(x, ∂y).
static void buildActivationVjp(OpBuilder &b, Location loc, Value x, Value dy,
                               Activation act,
                               SmallVectorImpl<Value> &operandCotangents) {
  operandCotangents.push_back(ActivationGradOp::create(
      b, loc, x.getType(), x, castTo(b, loc, dy, x.getType()),
      ActivationAttr::get(b.getContext(), act)));
}

/// ∂x = ∂y · (x > 0)
LogicalResult ReluOp::buildVjp(OpBuilder &b, ValueRange resultCotangents,
                               SmallVectorImpl<Value> &operandCotangents) {
  buildActivationVjp(b, getLoc(), getInput(), resultCotangents[0],
                     Activation::relu, operandCotangents);
  return success();
}

/// ∂x = ∂y · silu'(x)
LogicalResult SiluOp::buildVjp(OpBuilder &b, ValueRange resultCotangents,
                               SmallVectorImpl<Value> &operandCotangents) {
  buildActivationVjp(b, getLoc(), getInput(), resultCotangents[0],
                     Activation::silu, operandCotangents);
  return success();
}

/// ∂x = ∂y · gelu'(x)
LogicalResult GeluOp::buildVjp(OpBuilder &b, ValueRange resultCotangents,
                               SmallVectorImpl<Value> &operandCotangents) {
  buildActivationVjp(b, getLoc(), getInput(), resultCotangents[0],
                     getApproximate() == GeluApproximation::tanh
                         ? Activation::gelu_tanh
                         : Activation::gelu,
                     operandCotangents);
  return success();
}

/// ∂gate = ∂y · up · silu'(gate), ∂up = ∂y · silu(gate)
LogicalResult SwigluOp::buildVjp(OpBuilder &b, ValueRange resultCotangents,
                                 SmallVectorImpl<Value> &operandCotangents) {
  Location loc = getLoc();
  Value dy = castTo(b, loc, resultCotangents[0], getType());
  Value dGateOut = MulOp::create(b, loc, dy, getUp());
  buildActivationVjp(b, loc, getGate(), dGateOut, Activation::silu,
                     operandCotangents);
  Value silu = SiluOp::create(b, loc, getGate().getType(), getGate());
  operandCotangents.push_back(
      castTo(b, loc, MulOp::create(b, loc, dy, silu), getUp().getType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Linear layers and head layout
//===----------------------------------------------------------------------===//

/// y = x · Wᵀ + b:
///   ∂x = linear(∂y, Wᵀ)   ∂W = Σ_p ∂y[p]ᵀ x[p]   ∂b = Σ_p ∂y[p]
LogicalResult LinearOp::buildVjp(OpBuilder &b, ValueRange resultCotangents,
                                 SmallVectorImpl<Value> &operandCotangents) {
  Location loc = getLoc();
  Value dy = resultCotangents[0];
  Value x = getInput(), w = getWeight();
  Value dx =
      LinearOp::create(b, loc, dy, transpose2d(b, loc, w), /*bias=*/Value());
  operandCotangents.push_back(castTo(b, loc, dx, x.getType()));
  Value dw = LinearWeightGradOp::create(b, loc, dy, x);
  operandCotangents.push_back(castTo(b, loc, dw, w.getType()));
  if (Value bias = getBias())
    operandCotangents.push_back(
        sumToShape(b, loc, dy, cast<RankedTensorType>(bias.getType())));
  return success();
}

/// ∂x = merge_heads(∂y)
LogicalResult SplitHeadsOp::buildVjp(OpBuilder &b, ValueRange resultCotangents,
                                     SmallVectorImpl<Value> &operandCotangents) {
  Value dx = MergeHeadsOp::create(b, getLoc(), resultCotangents[0]);
  operandCotangents.push_back(castTo(b, getLoc(), dx, getInput().getType()));
  return success();
}

/// ∂x = split_heads(∂y, H)
LogicalResult MergeHeadsOp::buildVjp(OpBuilder &b, ValueRange resultCotangents,
                                     SmallVectorImpl<Value> &operandCotangents) {
  int64_t heads = getInput().getType().getDimSize(1);
  if (ShapedType::isDynamic(heads))
    return emitOpError() << "cannot be differentiated with a dynamic number "
                            "of heads (the split of the cotangent needs it)";
  Value dx = SplitHeadsOp::create(b, getLoc(), resultCotangents[0],
                                  static_cast<uint64_t>(heads));
  operandCotangents.push_back(castTo(b, getLoc(), dx, getInput().getType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Norms, embeddings, rotations
//===----------------------------------------------------------------------===//

/// (∂x, ∂w) = rms_norm_grad(x, w, ∂y)
LogicalResult RmsNormOp::buildVjp(OpBuilder &b, ValueRange resultCotangents,
                                  SmallVectorImpl<Value> &operandCotangents) {
  Location loc = getLoc();
  auto grad = RmsNormGradOp::create(
      b, loc, TypeRange{getInput().getType(), getWeight().getType()},
      getInput(), getWeight(), castTo(b, loc, resultCotangents[0], getType()),
      getEpsilonAttr());
  operandCotangents.push_back(grad.getInputGrad());
  operandCotangents.push_back(grad.getWeightGrad());
  return success();
}

/// A tensor<1 x elem> constant, which rotor.mul broadcasts.
static Value scalarConstant(OpBuilder &b, Location loc, Type elem,
                            double value) {
  auto type = RankedTensorType::get({1}, elem);
  return arith::ConstantOp::create(
      b, loc, type, DenseElementsAttr::get(type, b.getFloatAttr(elem, value)));
}

/// `v + scale · sum_axis(v)`, the sum kept as a unit dimension and
/// broadcast back.
static Value addScaledSum(OpBuilder &b, Location loc, Value v, int64_t axis,
                          double scale) {
  auto type = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> keptShape(type.getShape());
  keptShape[axis] = 1;
  Value sum = sumToShape(
      b, loc, v, RankedTensorType::get(keptShape, type.getElementType()));
  Value scaled = MulOp::create(
      b, loc, sum, scalarConstant(b, loc, type.getElementType(), scale));
  return castTo(b, loc, AddOp::create(b, loc, v, scaled), type);
}

/// layer_norm(x, w, b) = rms_norm(c, w) + b with c = x - mean(x) (the
/// variance is mean(c²)), and centering is its own transpose:
///   (∂c, ∂w) = rms_norm_grad(c, w, ∂y), ∂x = ∂c - mean(∂c),
///   ∂b = sum_rows(∂y)
LogicalResult LayerNormOp::buildVjp(OpBuilder &b, ValueRange resultCotangents,
                                    SmallVectorImpl<Value> &operandCotangents) {
  Location loc = getLoc();
  auto type = cast<RankedTensorType>(getType());
  int64_t last = type.getRank() - 1;
  int64_t h = type.getDimSize(last);
  if (ShapedType::isDynamic(h))
    return emitOpError() << "needs a static last dimension to be "
                            "differentiated";
  Value dy = castTo(b, loc, resultCotangents[0], type);
  Value centered = addScaledSum(b, loc, getInput(), last, -1.0 / h);
  auto grad = RmsNormGradOp::create(
      b, loc, TypeRange{type, getWeight().getType()}, centered, getWeight(),
      dy, getEpsilonAttr());
  operandCotangents.push_back(
      addScaledSum(b, loc, grad.getInputGrad(), last, -1.0 / h));
  operandCotangents.push_back(grad.getWeightGrad());
  if (Value bias = getBias())
    operandCotangents.push_back(
        sumToShape(b, loc, dy, cast<RankedTensorType>(bias.getType())));
  return success();
}

/// ∂table = embedding_grad(ids, ∂y) (scatter-add); ids: none
LogicalResult EmbeddingOp::buildVjp(OpBuilder &b, ValueRange resultCotangents,
                                    SmallVectorImpl<Value> &operandCotangents) {
  auto tableType = getTable().getType();
  if (tableType.isDynamicDim(0))
    return emitOpError() << "cannot be differentiated with a table of a "
                            "dynamic number of rows";
  operandCotangents.push_back(Value());
  operandCotangents.push_back(EmbeddingGradOp::create(
      b, getLoc(), tableType, getIds(), resultCotangents[0]));
  return success();
}

/// ∂x = rope(∂y, positions) {transpose}  (the rotation is orthogonal up to
/// the attention factor, so its transpose is the rotation by -t)
/// ∂base = rope_base_grad(x, ∂y, positions, base); positions: none
LogicalResult RopeOp::buildVjp(OpBuilder &b, ValueRange resultCotangents,
                               SmallVectorImpl<Value> &operandCotangents) {
  Location loc = getLoc();
  Value dy = castTo(b, loc, resultCotangents[0], getType());
  auto dx = RopeOp::create(b, loc, getType(), dy, getPositions(),
                           getLearnedBase(), getLayoutAttr(),
                           getRotaryDimAttr(), getBaseAttr(),
                           getScalingAttr(),
                           getTranspose() ? UnitAttr() : b.getUnitAttr());
  operandCotangents.push_back(dx);
  operandCotangents.push_back(Value());
  if (Value base = getLearnedBase()) {
    if (getTranspose())
      return emitOpError() << "cannot differentiate the learned base of a "
                              "transposed rope";
    if (auto s = getScalingAttr();
        s && (s.getKind() == RopeScalingKind::yarn ||
              s.getKind() == RopeScalingKind::llama3))
      return emitOpError() << "cannot differentiate a learned base under "
                           << stringifyRopeScalingKind(s.getKind())
                           << " scaling (only none, linear and dynamic_ntk)";
    operandCotangents.push_back(RopeBaseGradOp::create(
        b, loc, base.getType(), getInput(), dy, getPositions(), base,
        getLayoutAttr(), getRotaryDimAttr(), getScalingAttr()));
  }
  return success();
}

/// y = x · R:  ∂x = rotate(∂y, Rᵀ),  ∂R = Σ_p x[p]ᵀ ∂y[p]
LogicalResult RotateOp::buildVjp(OpBuilder &b, ValueRange resultCotangents,
                                 SmallVectorImpl<Value> &operandCotangents) {
  Location loc = getLoc();
  Value dy = castTo(b, loc, resultCotangents[0], getType());
  Value r = getRotation();
  operandCotangents.push_back(RotateOp::create(
      b, loc, getType(), dy, transpose2d(b, loc, r)));
  Value dr = LinearWeightGradOp::create(b, loc, getInput(), dy);
  operandCotangents.push_back(castTo(b, loc, dr, r.getType()));
  return success();
}

/// y = x · G_0 ⋯ G_{N-1}:  (∂x, ∂angles) = givens_grad(x, ∂y, angles)
LogicalResult GivensOp::buildVjp(OpBuilder &b, ValueRange resultCotangents,
                                 SmallVectorImpl<Value> &operandCotangents) {
  Location loc = getLoc();
  auto grad = GivensGradOp::create(
      b, loc, TypeRange{getType(), getAngles().getType()}, getInput(),
      castTo(b, loc, resultCotangents[0], getType()), getAngles(),
      getPairsAttr());
  operandCotangents.push_back(grad.getInputGrad());
  operandCotangents.push_back(grad.getAnglesGrad());
  return success();
}

//===----------------------------------------------------------------------===//
// Softmax
//===----------------------------------------------------------------------===//

/// ∂x = y · (∂y - Σ_axis(∂y · y)), the sum kept as a unit dimension and
/// broadcast back (rotor.mul/add broadcast, sum_to reduces).
LogicalResult SoftmaxOp::buildVjp(OpBuilder &b, ValueRange resultCotangents,
                                  SmallVectorImpl<Value> &operandCotangents) {
  Location loc = getLoc();
  auto type = cast<RankedTensorType>(getType());
  Value y = getResult();
  Value dy = castTo(b, loc, resultCotangents[0], type);
  int64_t axis = getNormalizedAxis();
  SmallVector<int64_t> keptShape(type.getShape());
  keptShape[axis] = 1;
  Value dot = sumToShape(b, loc, MulOp::create(b, loc, dy, y),
                         RankedTensorType::get(keptShape,
                                               type.getElementType()));
  Value centered = AddOp::create(
      b, loc, dy,
      MulOp::create(b, loc, dot,
                    scalarConstant(b, loc, type.getElementType(), -1.0)));
  operandCotangents.push_back(
      castTo(b, loc, MulOp::create(b, loc, y, centered), type));
  return success();
}

//===----------------------------------------------------------------------===//
// Row reductions built in place: l2_normalize, sinusoidal_embedding
//===----------------------------------------------------------------------===//
//
// These rules need a per-row statistic (a norm, a dot product) that no
// rotor op computes, so they build linalg.generic ops directly. Sums are
// accumulated in f32 (f64 for f64 tensors) and rounded once to the
// operand's element type.

/// The type the hand-built reductions accumulate in.
static FloatType accumulationType(Type elem) {
  if (elem.isF64())
    return Float64Type::get(elem.getContext());
  return Float32Type::get(elem.getContext());
}

/// The float scalar `v` converted to the float type `to`.
static Value convertScalar(OpBuilder &b, Location loc, Value v, Type to) {
  if (v.getType() == to)
    return v;
  if (v.getType().getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth())
    return arith::ExtFOp::create(b, loc, to, v);
  return arith::TruncFOp::create(b, loc, to, v);
}

/// The float tensor `v` with element type `elem` (arith.extf/truncf on the
/// tensor; `v` itself when it has that type already).
static Value convertTensor(OpBuilder &b, Location loc, Value v, Type elem) {
  auto type = cast<RankedTensorType>(v.getType());
  if (type.getElementType() == elem)
    return v;
  auto to = type.clone(elem);
  if (type.getElementTypeBitWidth() < elem.getIntOrFloatBitWidth())
    return arith::ExtFOp::create(b, loc, to, v);
  return arith::TruncFOp::create(b, loc, to, v);
}

/// A tensor of `type` with the sizes `sizes` (attributes where static),
/// uninitialized, or filled with zeros when `zero`.
static Value newTensor(OpBuilder &b, Location loc, RankedTensorType type,
                       ArrayRef<OpFoldResult> sizes, bool zero) {
  SmallVector<Value> dynamic;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      dynamic.push_back(cast<Value>(sizes[d]));
  Value empty = tensor::EmptyOp::create(b, loc, type, dynamic);
  if (!zero)
    return empty;
  Value c0 = arith::ConstantOp::create(
      b, loc, b.getFloatAttr(type.getElementType(), 0.0));
  return linalg::FillOp::create(b, loc, c0, empty).getResult(0);
}

/// The map (d_0, …, d_{rank-1}) -> (d_0, …, d_{count-1}).
static AffineMap leadingDims(MLIRContext *ctx, int64_t rank, int64_t count) {
  SmallVector<AffineExpr> exprs;
  for (int64_t d = 0; d < count; ++d)
    exprs.push_back(getAffineDimExpr(d, ctx));
  return AffineMap::get(rank, 0, exprs, ctx);
}

/// y = x / n with n = sqrt(max(Σ x², ε²)) over the last dimension:
///   ∂x = (∂y - y · Σ(∂y · y)) / n   where Σ x² > ε²
///   ∂x = ∂y / ε                     where the norm is clamped (n = ε)
LogicalResult
L2NormalizeOp::buildVjp(OpBuilder &b, ValueRange resultCotangents,
                        SmallVectorImpl<Value> &operandCotangents) {
  Location loc = getLoc();
  MLIRContext *ctx = b.getContext();
  auto type = cast<RankedTensorType>(getType());
  int64_t rank = type.getRank();
  Type elem = type.getElementType();
  FloatType acc = accumulationType(elem);
  Value x = getInput(), y = getResult();
  Value dy = castTo(b, loc, resultCotangents[0], type);

  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < rank; ++d)
    sizes.push_back(dimOf(b, loc, x, d));
  auto rowType =
      RankedTensorType::get(type.getShape().drop_back(), acc);
  Value rowInit =
      newTensor(b, loc, rowType, ArrayRef(sizes).drop_back(), /*zero=*/true);
  AffineMap id = b.getMultiDimIdentityMap(rank);
  AffineMap row = leadingDims(ctx, rank, rank - 1);
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  iterators.back() = utils::IteratorType::reduction;
  // (Σ x², Σ ∂y · y) per row.
  auto stats = linalg::GenericOp::create(
      b, loc, TypeRange{rowType, rowType}, ValueRange{x, y, dy},
      ValueRange{rowInit, rowInit}, {id, id, id, row, row}, iterators,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value xs = convertScalar(nb, nl, args[0], acc);
        Value ys = convertScalar(nb, nl, args[1], acc);
        Value dys = convertScalar(nb, nl, args[2], acc);
        Value ss = arith::AddFOp::create(
            nb, nl, args[3], arith::MulFOp::create(nb, nl, xs, xs));
        Value dot = arith::AddFOp::create(
            nb, nl, args[4], arith::MulFOp::create(nb, nl, ys, dys));
        linalg::YieldOp::create(nb, nl, ValueRange{ss, dot});
      });

  double eps = getEpsilon().convertToDouble();
  Value dx = linalg::GenericOp::create(
                 b, loc, type,
                 ValueRange{y, dy, stats.getResult(0), stats.getResult(1)},
                 newTensor(b, loc, type, sizes, /*zero=*/false),
                 {id, id, row, row, id},
                 SmallVector<utils::IteratorType>(
                     rank, utils::IteratorType::parallel),
                 [&](OpBuilder &nb, Location nl, ValueRange args) {
                   Value eps2 = arith::ConstantOp::create(
                       nb, nl, nb.getFloatAttr(acc, eps * eps));
                   Value ys = convertScalar(nb, nl, args[0], acc);
                   Value dys = convertScalar(nb, nl, args[1], acc);
                   Value ss = args[2], dot = args[3];
                   Value unclamped = arith::CmpFOp::create(
                       nb, nl, arith::CmpFPredicate::OGT, ss, eps2);
                   Value norm = math::SqrtOp::create(
                       nb, nl, arith::MaximumFOp::create(nb, nl, ss, eps2));
                   Value proj = arith::SelectOp::create(
                       nb, nl, unclamped,
                       arith::MulFOp::create(nb, nl, ys, dot),
                       arith::ConstantOp::create(nb, nl,
                                                 nb.getFloatAttr(acc, 0.0)));
                   Value g = arith::DivFOp::create(
                       nb, nl, arith::SubFOp::create(nb, nl, dys, proj),
                       norm);
                   linalg::YieldOp::create(nb, nl,
                                           convertScalar(nb, nl, g, elem));
                 })
                 .getResult(0);
  operandCotangents.push_back(dx);
  return success();
}

/// y = [sin(p f), cos(p f)] over a last dimension of 2F; with the halves of
/// y and T = cos(p f) · ∂y_sin - sin(p f) · ∂y_cos (the derivative of the
/// pair in the angle p f):
///   ∂f = Σ_p p · T[p, :]
///   ∂p = Σ_f f · T[:, f]    (float positions; integer positions: none)
LogicalResult SinusoidalEmbeddingOp::buildVjp(
    OpBuilder &b, ValueRange resultCotangents,
    SmallVectorImpl<Value> &operandCotangents) {
  Location loc = getLoc();
  MLIRContext *ctx = b.getContext();
  Value positions = getPositions(), freqs = getFreqs(), y = getResult();
  auto type = cast<RankedTensorType>(y.getType());
  auto posType = cast<RankedTensorType>(positions.getType());
  auto freqType = cast<RankedTensorType>(freqs.getType());
  int64_t numFreqs = freqType.getDimSize(0);
  if (ShapedType::isDynamic(numFreqs))
    return emitOpError() << "needs a static number of frequencies to be "
                            "differentiated";
  Value dy = castTo(b, loc, resultCotangents[0], type);
  int64_t rank = type.getRank(), last = rank - 1;
  FloatType acc = accumulationType(type.getElementType());
  Type posElem = posType.getElementType();
  bool floatPositions = isa<FloatType>(posElem);

  // The halves of y and ∂y as (P..., F) slices, so that every operand of
  // the generics spans the loops exactly.
  SmallVector<OpFoldResult> halfSizes;
  for (int64_t d = 0; d < last; ++d)
    halfSizes.push_back(dimOf(b, loc, positions, d));
  halfSizes.push_back(b.getIndexAttr(numFreqs));
  auto half = [&](Value v, int64_t offset) -> Value {
    SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0));
    offsets.back() = b.getIndexAttr(offset);
    return tensor::ExtractSliceOp::create(
        b, loc, v, offsets, halfSizes,
        SmallVector<OpFoldResult>(rank, b.getIndexAttr(1)));
  };
  AffineMap id = b.getMultiDimIdentityMap(rank);
  AffineMap pos = leadingDims(ctx, rank, last);
  AffineMap freq = AffineMap::get(rank, 0, getAffineDimExpr(last, ctx));
  // Operands: sin, cos, ∂y_sin, ∂y_cos, p, f.
  SmallVector<Value> ins = {half(y, 0),  half(y, numFreqs), half(dy, 0),
                            half(dy, numFreqs), positions, freqs};
  SmallVector<AffineMap> inputMaps = {id, id, id, id, pos, freq};
  // Σ T · (p for ∂f, f for ∂p) over the dimensions that `outMap` drops,
  // into a zero tensor of `gradType` and `sizes`.
  auto reduceTangent = [&](RankedTensorType gradType,
                           ArrayRef<OpFoldResult> sizes, AffineMap outMap,
                           bool byPosition) {
    SmallVector<AffineMap> maps(inputMaps);
    maps.push_back(outMap);
    SmallVector<utils::IteratorType> iterators(
        rank, byPosition ? utils::IteratorType::reduction
                         : utils::IteratorType::parallel);
    iterators.back() = byPosition ? utils::IteratorType::parallel
                                  : utils::IteratorType::reduction;
    return linalg::GenericOp::create(
               b, loc, gradType, ins,
               newTensor(b, loc, gradType, sizes, /*zero=*/true), maps,
               iterators,
               [&](OpBuilder &nb, Location nl, ValueRange args) {
                 auto at = [&](int i) {
                   return convertScalar(nb, nl, args[i], acc);
                 };
                 Value t = arith::SubFOp::create(
                     nb, nl, arith::MulFOp::create(nb, nl, at(1), at(2)),
                     arith::MulFOp::create(nb, nl, at(0), at(3)));
                 Value scale;
                 if (!byPosition)
                   scale = at(5);
                 else if (floatPositions)
                   scale = at(4);
                 else
                   scale = arith::SIToFPOp::create(nb, nl, acc, args[4]);
                 linalg::YieldOp::create(
                     nb, nl,
                     arith::AddFOp::create(
                         nb, nl, args[6],
                         arith::MulFOp::create(nb, nl, scale, t))
                         .getResult());
               })
        .getResult(0);
  };

  // ∂f: every position dimension is reduced.
  Value df = reduceTangent(RankedTensorType::get({numFreqs}, acc),
                           {b.getIndexAttr(numFreqs)}, freq,
                           /*byPosition=*/true);
  operandCotangents.push_back(Value());
  operandCotangents.push_back(castTo(
      b, loc, convertTensor(b, loc, df, freqType.getElementType()), freqType));
  if (!floatPositions)
    return success();

  // ∂p: the frequency dimension is reduced.
  Value dp = reduceTangent(RankedTensorType::get(posType.getShape(), acc),
                           ArrayRef(halfSizes).drop_back(), pos,
                           /*byPosition=*/false);
  operandCotangents[0] = convertTensor(b, loc, dp, posElem);
  return success();
}

/// y[b, t, g·Og + o] = bias + Σ_{c, k} w[g·Og + o, c, k] · xp[b, t + k, g·Cg + c]
/// with xp the input padded by `left` zeros before and `right` after
/// (K - 1 in all; causal: left = K - 1; same: left = (K - 1) / 2):
///   ∂w[g·Og + o, c, k] = Σ_{b, t} ∂y[b, t, g·Og + o] · xp[b, t + k, g·Cg + c]
///   ∂x[b, s, g·Cg + c] = Σ_{o, k} w[g·Og + o, c, k] · ∂yp[b, s + K - 1 - k, g·Og + o]
///                        with ∂yp = ∂y padded by `right` before, `left` after
///                        (the transposed convolution, mirrored padding)
///   ∂bias = Σ_{b, t} ∂y
LogicalResult Conv1dOp::buildVjp(OpBuilder &b, ValueRange resultCotangents,
                                 SmallVectorImpl<Value> &operandCotangents) {
  Location loc = getLoc();
  MLIRContext *ctx = b.getContext();
  Value x = getInput(), w = getWeight();
  auto xType = cast<RankedTensorType>(x.getType());
  auto wType = cast<RankedTensorType>(w.getType());
  auto yType = cast<RankedTensorType>(getType());
  int64_t cin = xType.getDimSize(2), cout = wType.getDimSize(0),
          kernel = wType.getDimSize(2);
  if (ShapedType::isDynamic(cin) || ShapedType::isDynamic(cout) ||
      ShapedType::isDynamic(kernel))
    return emitOpError() << "needs static channels and kernel size to be "
                            "differentiated";
  int64_t groups = getGroupsAttr().getInt();
  int64_t cg = cin / groups, og = cout / groups;
  int64_t left = getPadding() == ConvPadding::causal ? kernel - 1
                                                     : (kernel - 1) / 2;
  int64_t right = kernel - 1 - left;
  Type elem = xType.getElementType();
  FloatType acc = accumulationType(elem);
  Value dy = castTo(b, loc, resultCotangents[0], yType);

  OpFoldResult batch = dimOf(b, loc, x, 0), seq = dimOf(b, loc, x, 1);
  int64_t seqSize = xType.getDimSize(1);
  int64_t paddedSeq =
      ShapedType::isDynamic(seqSize) ? ShapedType::kDynamic
                                     : seqSize + kernel - 1;
  OpFoldResult paddedSize =
      ShapedType::isDynamic(seqSize)
          ? OpFoldResult(arith::AddIOp::create(
                             b, loc, cast<Value>(seq),
                             arith::ConstantIndexOp::create(b, loc,
                                                            kernel - 1))
                             .getResult())
          : OpFoldResult(b.getIndexAttr(paddedSeq));
  // v (B, S, C) padded along the sequence, split to (B, S + K - 1, G, C/G).
  auto padSplit = [&](Value v, int64_t before, int64_t after, int64_t c) {
    auto type = cast<RankedTensorType>(v.getType());
    Value zero = arith::ConstantOp::create(
        b, loc, b.getFloatAttr(type.getElementType(), 0.0));
    OpFoldResult z = b.getIndexAttr(0);
    Value padded = tensor::PadOp::create(
        b, loc,
        RankedTensorType::get({type.getDimSize(0), paddedSeq, c},
                              type.getElementType()),
        v, ArrayRef<OpFoldResult>{z, b.getIndexAttr(before), z},
        ArrayRef<OpFoldResult>{z, b.getIndexAttr(after), z}, zero);
    return tensor::ExpandShapeOp::create(
        b, loc,
        RankedTensorType::get({type.getDimSize(0), paddedSeq, groups,
                               c / groups},
                              type.getElementType()),
        padded, ArrayRef<ReassociationIndices>{{0}, {1}, {2, 3}},
        ArrayRef<OpFoldResult>{batch, paddedSize, b.getIndexAttr(groups),
                               b.getIndexAttr(c / groups)});
  };
  auto split = [&](Value v, int64_t c) {
    auto type = cast<RankedTensorType>(v.getType());
    return tensor::ExpandShapeOp::create(
        b, loc,
        RankedTensorType::get({type.getDimSize(0), type.getDimSize(1), groups,
                               c / groups},
                              type.getElementType()),
        v, ArrayRef<ReassociationIndices>{{0}, {1}, {2, 3}},
        ArrayRef<OpFoldResult>{batch, seq, b.getIndexAttr(groups),
                               b.getIndexAttr(c / groups)});
  };
  Value wg = tensor::ExpandShapeOp::create(
      b, loc,
      RankedTensorType::get({groups, og, cg, kernel}, wType.getElementType()),
      w, ArrayRef<ReassociationIndices>{{0, 1}, {2}, {3}});
  auto multiplyAdd = [&](OpBuilder &nb, Location nl, ValueRange args) {
    Value p = arith::MulFOp::create(nb, nl, convertScalar(nb, nl, args[0], acc),
                                    convertScalar(nb, nl, args[1], acc));
    linalg::YieldOp::create(
        nb, nl, arith::AddFOp::create(nb, nl, args[2], p).getResult());
  };
  auto dims = [&](int64_t n) {
    SmallVector<AffineExpr> d;
    for (int64_t i = 0; i < n; ++i)
      d.push_back(getAffineDimExpr(i, ctx));
    return d;
  };
  using utils::IteratorType;

  // ∂x: loops (b, s, g, c, o, k), o and k reduced.
  {
    SmallVector<AffineExpr> d = dims(6);
    AffineExpr bd = d[0], s = d[1], g = d[2], c = d[3], o = d[4], k = d[5];
    Value dyp = padSplit(dy, right, left, cout);
    auto dxType = RankedTensorType::get(
        {xType.getDimSize(0), seqSize, groups, cg}, acc);
    Value init = newTensor(b, loc, dxType,
                           {batch, seq, b.getIndexAttr(groups),
                            b.getIndexAttr(cg)},
                           /*zero=*/true);
    Value dx4 =
        linalg::GenericOp::create(
            b, loc, dxType, ValueRange{wg, dyp}, init,
            {AffineMap::get(6, 0, {g, o, c, k}, ctx),
             AffineMap::get(6, 0, {bd, s + (kernel - 1) - k, g, o}, ctx),
             AffineMap::get(6, 0, {bd, s, g, c}, ctx)},
            {IteratorType::parallel, IteratorType::parallel,
             IteratorType::parallel, IteratorType::parallel,
             IteratorType::reduction, IteratorType::reduction},
            multiplyAdd)
            .getResult(0);
    Value dx = tensor::CollapseShapeOp::create(
        b, loc, convertTensor(b, loc, dx4, elem),
        ArrayRef<ReassociationIndices>{{0}, {1}, {2, 3}});
    operandCotangents.push_back(castTo(b, loc, dx, xType));
  }
  // ∂w: loops (g, o, c, k, b, t), b and t reduced.
  {
    SmallVector<AffineExpr> d = dims(6);
    AffineExpr g = d[0], o = d[1], c = d[2], k = d[3], bd = d[4], t = d[5];
    Value xp = padSplit(x, left, right, cin);
    auto dwType = RankedTensorType::get({groups, og, cg, kernel}, acc);
    Value init = newTensor(b, loc, dwType,
                           {b.getIndexAttr(groups), b.getIndexAttr(og),
                            b.getIndexAttr(cg), b.getIndexAttr(kernel)},
                           /*zero=*/true);
    Value dw4 =
        linalg::GenericOp::create(
            b, loc, dwType, ValueRange{split(dy, cout), xp}, init,
            {AffineMap::get(6, 0, {bd, t, g, o}, ctx),
             AffineMap::get(6, 0, {bd, t + k, g, c}, ctx),
             AffineMap::get(6, 0, {g, o, c, k}, ctx)},
            {IteratorType::parallel, IteratorType::parallel,
             IteratorType::parallel, IteratorType::parallel,
             IteratorType::reduction, IteratorType::reduction},
            multiplyAdd)
            .getResult(0);
    Value dw = tensor::CollapseShapeOp::create(
        b, loc, convertTensor(b, loc, dw4, wType.getElementType()),
        ArrayRef<ReassociationIndices>{{0, 1}, {2}, {3}});
    operandCotangents.push_back(castTo(b, loc, dw, wType));
  }
  if (Value bias = getBias())
    operandCotangents.push_back(
        sumToShape(b, loc, dy, cast<RankedTensorType>(bias.getType())));
  return success();
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

/// (∂q, ∂k, ∂v, ∂bias) = attention_grad(q, k, v, o, lse, ∂o)
///
/// The log-sum-exp comes from the op itself when it returns it (the
/// rotor-autodiff pass sets return_lse on the forward attention ops it
/// differentiates); otherwise the forward op is recomputed with it.
LogicalResult AttentionOp::buildVjp(OpBuilder &b, ValueRange resultCotangents,
                                    SmallVectorImpl<Value> &operandCotangents) {
  Location loc = getLoc();
  if (resultCotangents.size() > 1 && resultCotangents[1])
    return emitOpError() << "cannot be differentiated through its lse result";
  if (hasRope())
    return emitOpError()
           << "with a fused rope cannot be differentiated: differentiate "
              "the rotor.rope ops before rotor-fuse-attention-rope (the "
              "rotor-autodiff pass un-fuses them)";
  if (hasQueryRotation())
    return emitOpError()
           << "with a fused query rotation (givens_q/rotate_q) cannot be "
              "differentiated: differentiate the rotor.givens/rotor.rotate "
              "ops before rotor-fuse-attention-rotations (the rotor-autodiff "
              "pass un-fuses them)";
  if (getQueryStart())
    return emitOpError()
           << "with query_start (a decoding step over a static cache) cannot "
              "be differentiated: train with the plain attention over the "
              "whole sequence";
  Value output = getOutput(), lse = getLse();
  if (!lse) {
    auto withLse = AttentionOp::create(
        b, loc, getQuery(), getKey(), getValue(), getBias(),
        /*query_positions=*/Value(), /*key_positions=*/Value(),
        /*rope_learned_base=*/Value(), /*query_givens_angles=*/Value(),
        /*query_rotation=*/Value(), /*query_start=*/Value(), getMaskAttr(),
        getScaleAttr(),
        getSoftcapAttr(), getBiasMaxDistanceAttr(), b.getUnitAttr(),
        RopeLayoutAttr(), IntegerAttr(), FloatAttr(), RopeScalingAttr(),
        DenseI64ArrayAttr());
    output = withLse.getOutput();
    lse = withLse.getLse();
  }
  SmallVector<Type> types = {getQuery().getType(), getKey().getType(),
                             getValue().getType()};
  if (Value bias = getBias())
    types.push_back(bias.getType());
  auto grad = AttentionGradOp::create(
      b, loc, types, getQuery(), getKey(), getValue(), output, lse,
      castTo(b, loc, resultCotangents[0], output.getType()), getBias(),
      getMaskAttr(), getScaleAttr(), getSoftcapAttr(),
      getBiasMaxDistanceAttr());
  operandCotangents.push_back(grad.getQueryGrad());
  operandCotangents.push_back(grad.getKeyGrad());
  operandCotangents.push_back(grad.getValueGrad());
  if (getBias())
    operandCotangents.push_back(grad.getBiasGrad());
  return success();
}

//===----------------------------------------------------------------------===//
// Losses
//===----------------------------------------------------------------------===//

/// ∂logits = cross_entropy_grad(logits, labels, ∂loss); labels: none
LogicalResult CrossEntropyOp::buildVjp(OpBuilder &b, ValueRange resultCotangents,
                                       SmallVectorImpl<Value> &operandCotangents) {
  operandCotangents.push_back(CrossEntropyGradOp::create(
      b, getLoc(), getLogits().getType(), getLogits(), getLabels(),
      resultCotangents[0], getIgnoreIndexAttr()));
  operandCotangents.push_back(Value());
  return success();
}

//===----------------------------------------------------------------------===//
// External models for upstream ops
//===----------------------------------------------------------------------===//

namespace {

/// A model whose rule is the function `Rule(op, b, cotangents, out)`.
template <typename OpTy, LogicalResult (*Rule)(OpTy, OpBuilder &, ValueRange,
                                               SmallVectorImpl<Value> &)>
struct RuleModel
    : DifferentiableOpInterface::ExternalModel<RuleModel<OpTy, Rule>, OpTy> {
  LogicalResult buildVjp(Operation *op, OpBuilder &b,
                         ValueRange resultCotangents,
                         SmallVectorImpl<Value> &operandCotangents) const {
    return Rule(cast<OpTy>(op), b, resultCotangents, operandCotangents);
  }
};

/// tensor.cast: ∂source = cast(∂dest)
LogicalResult castVjp(tensor::CastOp op, OpBuilder &b, ValueRange cts,
                      SmallVectorImpl<Value> &out) {
  out.push_back(castTo(b, op.getLoc(), cts[0], op.getSource().getType()));
  return success();
}

/// arith.extf / arith.truncf on tensors: ∂in = convert(∂out) back.
LogicalResult extfVjp(arith::ExtFOp op, OpBuilder &b, ValueRange cts,
                      SmallVectorImpl<Value> &out) {
  if (!isa<RankedTensorType>(op.getType()))
    return op.emitOpError() << "is differentiated on ranked tensors only";
  out.push_back(
      arith::TruncFOp::create(b, op.getLoc(), op.getIn().getType(), cts[0]));
  return success();
}
LogicalResult truncfVjp(arith::TruncFOp op, OpBuilder &b, ValueRange cts,
                        SmallVectorImpl<Value> &out) {
  if (!isa<RankedTensorType>(op.getType()))
    return op.emitOpError() << "is differentiated on ranked tensors only";
  out.push_back(
      arith::ExtFOp::create(b, op.getLoc(), op.getIn().getType(), cts[0]));
  return success();
}

/// tensor.expand_shape: ∂src = collapse_shape(∂result) (and vice versa).
LogicalResult expandVjp(tensor::ExpandShapeOp op, OpBuilder &b, ValueRange cts,
                        SmallVectorImpl<Value> &out) {
  Value dy = castTo(b, op.getLoc(), cts[0], op.getResultType());
  out.push_back(tensor::CollapseShapeOp::create(
      b, op.getLoc(), op.getSrcType(), dy, op.getReassociationIndices()));
  for (size_t i = 1; i < op->getNumOperands(); ++i)
    out.push_back(Value());
  return success();
}
LogicalResult collapseVjp(tensor::CollapseShapeOp op, OpBuilder &b,
                          ValueRange cts, SmallVectorImpl<Value> &out) {
  Location loc = op.getLoc();
  Value dy = castTo(b, loc, cts[0], op.getResultType());
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < op.getSrcType().getRank(); ++d)
    sizes.push_back(dimOf(b, loc, op.getSrc(), d));
  out.push_back(tensor::ExpandShapeOp::create(b, loc, op.getSrcType(), dy,
                                              op.getReassociationIndices(),
                                              sizes));
  return success();
}

/// tensor.extract_slice (unit strides): ∂source = ∂result inserted into
/// zeros at the slice; dynamic offsets and sizes get no cotangent.
LogicalResult extractSliceVjp(tensor::ExtractSliceOp op, OpBuilder &b,
                              ValueRange cts, SmallVectorImpl<Value> &out) {
  Location loc = op.getLoc();
  if (!llvm::all_of(op.getStaticStrides(), [](int64_t s) { return s == 1; }))
    return op.emitOpError() << "is differentiated with unit strides only";
  if (op.getSourceType().getRank() != op.getResultType().getRank())
    return op.emitOpError()
           << "is differentiated only when it keeps every dimension";
  Value zeros = zerosLike(b, loc, op.getSourceType(), op.getSource());
  Value dy = castTo(b, loc, cts[0], op.getResultType());
  out.push_back(tensor::InsertSliceOp::create(
      b, loc, dy, zeros, op.getMixedOffsets(), op.getMixedSizes(),
      op.getMixedStrides()));
  out.append(op->getNumOperands() - 1, Value());
  return success();
}

/// tensor.concat along d: ∂input_i = the slice of ∂result it occupies.
LogicalResult concatVjp(tensor::ConcatOp op, OpBuilder &b, ValueRange cts,
                        SmallVectorImpl<Value> &out) {
  Location loc = op.getLoc();
  int64_t dim = static_cast<int64_t>(op.getDim());
  Value dy = castTo(b, loc, cts[0], op.getResultType());
  OpFoldResult offset = b.getIndexAttr(0);
  for (Value input : op.getInputs()) {
    auto type = cast<RankedTensorType>(input.getType());
    SmallVector<OpFoldResult> offsets, sizes, strides;
    for (int64_t d = 0; d < type.getRank(); ++d) {
      offsets.push_back(d == dim ? offset : b.getIndexAttr(0));
      sizes.push_back(dimOf(b, loc, input, d));
      strides.push_back(b.getIndexAttr(1));
    }
    Value slice = tensor::ExtractSliceOp::create(b, loc, type, dy, offsets,
                                                 sizes, strides);
    out.push_back(slice);
    // offset += size along dim
    Value next = arith::AddIOp::create(
        b, loc, getValueOrCreateConstantIndexOp(b, loc, offset),
        getValueOrCreateConstantIndexOp(b, loc, sizes[dim]));
    offset = next;
  }
  return success();
}

} // namespace

void mlir::rotor::registerDifferentiableOpInterfaceExternalModels(
    DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, tensor::TensorDialect *) {
    tensor::CastOp::attachInterface<RuleModel<tensor::CastOp, castVjp>>(*ctx);
    tensor::ExpandShapeOp::attachInterface<
        RuleModel<tensor::ExpandShapeOp, expandVjp>>(*ctx);
    tensor::CollapseShapeOp::attachInterface<
        RuleModel<tensor::CollapseShapeOp, collapseVjp>>(*ctx);
    tensor::ExtractSliceOp::attachInterface<
        RuleModel<tensor::ExtractSliceOp, extractSliceVjp>>(*ctx);
    tensor::ConcatOp::attachInterface<RuleModel<tensor::ConcatOp, concatVjp>>(
        *ctx);
  });
  registry.addExtension(+[](MLIRContext *ctx, arith::ArithDialect *) {
    arith::ExtFOp::attachInterface<RuleModel<arith::ExtFOp, extfVjp>>(*ctx);
    arith::TruncFOp::attachInterface<RuleModel<arith::TruncFOp, truncfVjp>>(
        *ctx);
  });
}
