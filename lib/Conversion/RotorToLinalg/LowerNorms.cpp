//===- LowerNorms.cpp - Lower norms and softmax ---------------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Each op becomes one or two reductions, then one parallel linalg.generic:
//
// * a reduction is a linalg.generic whose reduced dimension has a
//   `reduction` iterator, writing into a tensor of the accumulation type
//   (f32, or f64 for f64 data) without that dimension, initialized by
//   linalg.fill;
// * the final generic reads the input, the row statistics (through a map
//   that drops the reduced dimension) and the per-feature weight and bias,
//   and narrows only the value it stores.
//
// Statistics are computed in two passes where one pass would lose accuracy:
// layer_norm's variance is the mean of (x - mean)^2, not E[x^2] - E[x]^2,
// and softmax subtracts the row maximum before exponentiating.
//
//===----------------------------------------------------------------------===//

#include "rotor/Conversion/LoweringUtils.h"
#include "rotor/Conversion/RotorToLinalg.h"
#include "rotor/Dialect/Rotor/RotorOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Utils/Utils.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::rotor;

/// The map of a rank-`rank` iteration space that drops dimension `axis`.
static AffineMap getDroppedDimMap(MLIRContext *ctx, int64_t rank,
                                  int64_t axis) {
  SmallVector<AffineExpr> exprs;
  for (int64_t d = 0; d < rank; ++d)
    if (d != axis)
      exprs.push_back(getAffineDimExpr(d, ctx));
  return AffineMap::get(rank, 0, exprs, ctx);
}

/// The size of dimension `dim` of `v` as a scalar of float type `type`.
static Value getDimAsFloat(OpBuilder &b, Location loc, Value v, int64_t dim,
                           FloatType type) {
  int64_t size = cast<RankedTensorType>(v.getType()).getDimSize(dim);
  if (!ShapedType::isDynamic(size))
    return createFloatConstant(b, loc, type, static_cast<double>(size));
  Value i64 = arith::IndexCastUIOp::create(b, loc, b.getI64Type(),
                                           getDimValue(b, loc, v, dim));
  return arith::UIToFPOp::create(b, loc, type, i64);
}

/// Combines the widened input element, the `rowInputs` elements of its row
/// (already in the accumulation type) and the running accumulator into the
/// next accumulator.
using CombineFn =
    function_ref<Value(OpBuilder &, Location, Value, ValueRange, Value)>;

/// Reduces `input` along `axis` into a tensor of type `acc` without that
/// dimension, initialized to `init`. `rowInputs` are tensors of that reduced
/// shape (already in `acc`), read alongside each element of the row.
static Value buildReduction(OpBuilder &b, Location loc, Value input,
                            int64_t axis, FloatType acc, double init,
                            ValueRange rowInputs, CombineFn combine) {
  auto inputType = cast<RankedTensorType>(input.getType());
  int64_t rank = inputType.getRank();
  SmallVector<int64_t> shape;
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < rank; ++d) {
    if (d == axis)
      continue;
    shape.push_back(inputType.getDimSize(d));
    sizes.push_back(getDim(b, loc, input, d));
  }
  auto rowType = RankedTensorType::get(shape, acc);
  Value empty = createEmpty(b, loc, rowType, sizes);
  Value filled = linalg::FillOp::create(
                     b, loc, createFloatConstant(b, loc, acc, init), empty)
                     .getResult(0);

  AffineMap rowMap = getDroppedDimMap(b.getContext(), rank, axis);
  SmallVector<Value> inputs = {input};
  llvm::append_range(inputs, rowInputs);
  SmallVector<AffineMap> maps = {b.getMultiDimIdentityMap(rank)};
  maps.append(rowInputs.size() + 1, rowMap);
  SmallVector<utils::IteratorType> iterators = parallelIterators(rank);
  iterators[axis] = utils::IteratorType::reduction;
  auto generic = linalg::GenericOp::create(
      b, loc, rowType, inputs, filled, maps, iterators,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value x = convertFloat(nb, nl, args.front(), acc);
        Value next =
            combine(nb, nl, x, args.slice(1, rowInputs.size()), args.back());
        linalg::YieldOp::create(nb, nl, next);
      });
  return generic.getResult(0);
}

/// Computes one output element from the widened input element, the row
/// statistics and the widened per-feature vectors, in the accumulation type.
using FinalizeFn =
    function_ref<Value(OpBuilder &, Location, Value, ValueRange, ValueRange)>;

/// Builds the parallel generic producing a tensor of `input`'s type from
/// `input`, the row statistics `rows` (reduced along `axis`) and the 1-D
/// vectors `features` indexed by the last dimension.
static Value buildNormalize(OpBuilder &b, Location loc, Value input,
                            int64_t axis, ValueRange rows, ValueRange features,
                            FinalizeFn finalize) {
  auto type = cast<RankedTensorType>(input.getType());
  int64_t rank = type.getRank();
  Type elem = type.getElementType();
  FloatType acc = getAccumulationType(elem);
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < rank; ++d)
    sizes.push_back(getDim(b, loc, input, d));
  Value init = createEmpty(b, loc, type, sizes);

  MLIRContext *ctx = b.getContext();
  AffineMap identity = b.getMultiDimIdentityMap(rank);
  SmallVector<Value> inputs = {input};
  llvm::append_range(inputs, rows);
  llvm::append_range(inputs, features);
  SmallVector<AffineMap> maps = {identity};
  maps.append(rows.size(), getDroppedDimMap(ctx, rank, axis));
  maps.append(features.size(),
              AffineMap::get(rank, 0, getAffineDimExpr(rank - 1, ctx)));
  maps.push_back(identity);
  auto generic = linalg::GenericOp::create(
      b, loc, type, inputs, init, maps, parallelIterators(rank),
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value x = convertFloat(nb, nl, args.front(), acc);
        ValueRange rowArgs = args.slice(1, rows.size());
        SmallVector<Value> featureArgs;
        for (Value f : args.slice(1 + rows.size(), features.size()))
          featureArgs.push_back(convertFloat(nb, nl, f, acc));
        Value y = finalize(nb, nl, x, rowArgs, featureArgs);
        linalg::YieldOp::create(nb, nl, convertFloat(nb, nl, y, elem));
      });
  return generic.getResult(0);
}

/// The running sum of `x * x`.
static Value addSquare(OpBuilder &b, Location loc, Value x, ValueRange,
                       Value sum) {
  return arith::AddFOp::create(b, loc, sum,
                               arith::MulFOp::create(b, loc, x, x));
}

namespace {

/// rms_norm(x, w) =>
///   ss = reduce(sum x^2) over the last dim
///   y  = generic { x / sqrt(ss / H + eps) * w }
struct LowerRmsNorm : OpRewritePattern<RmsNormOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(RmsNormOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    int64_t axis = op.getInput().getType().getRank() - 1;
    FloatType acc =
        getAccumulationType(op.getInput().getType().getElementType());
    Value count = getDimAsFloat(rewriter, loc, x, axis, acc);
    Value eps = createFloatConstant(rewriter, loc, acc,
                                    op.getEpsilon().convertToDouble());
    Value sumSq =
        buildReduction(rewriter, loc, x, axis, acc, 0.0, {}, addSquare);
    Value y = buildNormalize(
        rewriter, loc, x, axis, sumSq, op.getWeight(),
        [&](OpBuilder &b, Location l, Value xv, ValueRange rows,
            ValueRange features) -> Value {
          Value meanSq = arith::DivFOp::create(b, l, rows[0], count);
          Value rms = math::SqrtOp::create(
              b, l, arith::AddFOp::create(b, l, meanSq, eps));
          return arith::MulFOp::create(
              b, l, arith::DivFOp::create(b, l, xv, rms), features[0]);
        });
    rewriter.replaceOp(op, y);
    return success();
  }
};

/// layer_norm(x, w, b) =>
///   s  = reduce(sum x) over the last dim
///   sd = reduce(sum (x - s/H)^2) over the last dim
///   y  = generic { (x - s/H) / sqrt(sd / H + eps) * w + b }
struct LowerLayerNorm : OpRewritePattern<LayerNormOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LayerNormOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    int64_t axis = op.getInput().getType().getRank() - 1;
    FloatType acc =
        getAccumulationType(op.getInput().getType().getElementType());
    Value count = getDimAsFloat(rewriter, loc, x, axis, acc);
    Value eps = createFloatConstant(rewriter, loc, acc,
                                    op.getEpsilon().convertToDouble());

    Value sum = buildReduction(
        rewriter, loc, x, axis, acc, 0.0, {},
        [](OpBuilder &b, Location l, Value xv, ValueRange, Value s) -> Value {
          return arith::AddFOp::create(b, l, s, xv);
        });
    Value sumDev = buildReduction(
        rewriter, loc, x, axis, acc, 0.0, sum,
        [&](OpBuilder &b, Location l, Value xv, ValueRange rows,
            Value s) -> Value {
          Value mean = arith::DivFOp::create(b, l, rows[0], count);
          return addSquare(b, l, arith::SubFOp::create(b, l, xv, mean), {}, s);
        });

    SmallVector<Value> features = {op.getWeight()};
    if (Value bias = op.getBias())
      features.push_back(bias);
    Value y = buildNormalize(
        rewriter, loc, x, axis, ValueRange{sum, sumDev}, features,
        [&](OpBuilder &b, Location l, Value xv, ValueRange rows,
            ValueRange f) -> Value {
          Value mean = arith::DivFOp::create(b, l, rows[0], count);
          Value var = arith::DivFOp::create(b, l, rows[1], count);
          Value stddev =
              math::SqrtOp::create(b, l, arith::AddFOp::create(b, l, var, eps));
          Value normed = arith::DivFOp::create(
              b, l, arith::SubFOp::create(b, l, xv, mean), stddev);
          Value y = arith::MulFOp::create(b, l, normed, f[0]);
          if (f.size() > 1)
            y = arith::AddFOp::create(b, l, y, f[1]);
          return y;
        });
    rewriter.replaceOp(op, y);
    return success();
  }
};

/// l2_normalize(x) =>
///   ss = reduce(sum x^2) over the last dim
///   y  = generic { x / max(sqrt(ss), eps) }
///
/// max(sqrt(ss), eps) equals the documented sqrt(max(ss, eps^2)), as
/// torch.nn.functional.normalize computes it, and does not underflow eps^2
/// for epsilons below 1e-19 in f32.
struct LowerL2Normalize : OpRewritePattern<L2NormalizeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(L2NormalizeOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    int64_t axis = op.getInput().getType().getRank() - 1;
    FloatType acc =
        getAccumulationType(op.getInput().getType().getElementType());
    Value eps = createFloatConstant(rewriter, loc, acc,
                                    op.getEpsilon().convertToDouble());
    Value sumSq =
        buildReduction(rewriter, loc, x, axis, acc, 0.0, {}, addSquare);
    Value y = buildNormalize(rewriter, loc, x, axis, sumSq, {},
                             [&](OpBuilder &b, Location l, Value xv,
                                 ValueRange rows, ValueRange) -> Value {
                               Value norm = math::SqrtOp::create(b, l, rows[0]);
                               return arith::DivFOp::create(
                                   b, l, xv,
                                   arith::MaximumFOp::create(b, l, norm, eps));
                             });
    rewriter.replaceOp(op, y);
    return success();
  }
};

/// softmax(x, axis) =>
///   m = reduce(max x) along axis, from -inf
///   s = reduce(sum exp(x - m)) along axis
///   y = generic { exp(x - m) / s }
///
/// maximumf propagates NaN, so a row holding a NaN yields NaN throughout.
struct LowerSoftmax : OpRewritePattern<SoftmaxOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(SoftmaxOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    int64_t axis = op.getNormalizedAxis();
    FloatType acc =
        getAccumulationType(op.getInput().getType().getElementType());
    Value max = buildReduction(
        rewriter, loc, x, axis, acc, -std::numeric_limits<double>::infinity(),
        {},
        [](OpBuilder &b, Location l, Value xv, ValueRange, Value m) -> Value {
          return arith::MaximumFOp::create(b, l, m, xv);
        });
    Value sum =
        buildReduction(rewriter, loc, x, axis, acc, 0.0, max,
                       [](OpBuilder &b, Location l, Value xv, ValueRange rows,
                          Value s) -> Value {
                         Value e = math::ExpOp::create(
                             b, l, arith::SubFOp::create(b, l, xv, rows[0]));
                         return arith::AddFOp::create(b, l, s, e);
                       });
    Value y =
        buildNormalize(rewriter, loc, x, axis, ValueRange{max, sum}, {},
                       [](OpBuilder &b, Location l, Value xv, ValueRange rows,
                          ValueRange) -> Value {
                         Value e = math::ExpOp::create(
                             b, l, arith::SubFOp::create(b, l, xv, rows[0]));
                         return arith::DivFOp::create(b, l, e, rows[1]);
                       });
    rewriter.replaceOp(op, y);
    return success();
  }
};

/// rms_norm_grad(x, w, dy) over the last dimension (H), rows R... =>
///   ss  = Σ_h x²,  dot = Σ_h dy · w · x                         (per row)
///   r   = 1 / sqrt(ss / H + eps)
///   dx  = generic { r · (dy · w - x · r² · dot / H) }
///   dw  = generic (R..., h), reduction R... { dw[h] += dy · x · r }
struct LowerRmsNormGrad : OpRewritePattern<RmsNormGradOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(RmsNormGradOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput(), w = op.getWeight(), dy = op.getGrad();
    auto type = cast<RankedTensorType>(x.getType());
    auto wType = cast<RankedTensorType>(w.getType());
    int64_t rank = type.getRank(), axis = rank - 1;
    FloatType acc = getAccumulationType(type.getElementType());
    MLIRContext *ctx = rewriter.getContext();
    double eps = op.getEpsilon().convertToDouble();

    Value ss = buildReduction(
        rewriter, loc, x, axis, acc, 0.0, {},
        [](OpBuilder &b, Location l, Value v, ValueRange, Value s) -> Value {
          return arith::AddFOp::create(b, l, s,
                                       arith::MulFOp::create(b, l, v, v));
        });
    AffineMap identity = rewriter.getMultiDimIdentityMap(rank);
    AffineMap rowMap = getDroppedDimMap(ctx, rank, axis);
    AffineMap featureMap =
        AffineMap::get(rank, 0, getAffineDimExpr(axis, ctx));
    // dot = Σ_h dy · w · x, accumulated into a row tensor.
    Value rowInit = linalg::FillOp::create(
                        rewriter, loc, createFloatConstant(rewriter, loc, acc, 0.0),
                        createEmpty(rewriter, loc,
                                    cast<RankedTensorType>(ss.getType()),
                                    tensor::getMixedSizes(rewriter, loc, ss)))
                        .getResult(0);
    SmallVector<utils::IteratorType> lastReduced = parallelIterators(rank);
    lastReduced[axis] = utils::IteratorType::reduction;
    Value dot = linalg::GenericOp::create(
                    rewriter, loc, ss.getType(), ValueRange{x, dy, w}, rowInit,
                    {identity, identity, featureMap, rowMap}, lastReduced,
                    [&](OpBuilder &b, Location l, ValueRange args) {
                      Value p = arith::MulFOp::create(
                          b, l, convertFloat(b, l, args[0], acc),
                          arith::MulFOp::create(
                              b, l, convertFloat(b, l, args[1], acc),
                              convertFloat(b, l, args[2], acc)));
                      linalg::YieldOp::create(
                          b, l, arith::AddFOp::create(b, l, args[3], p)
                                    .getResult());
                    })
                    .getResult(0);

    Value n = getDimAsFloat(rewriter, loc, x, axis, acc);
    // r = 1 / sqrt(ss / H + eps)
    auto rms = [&](OpBuilder &b, Location l, Value sumSq) {
      Value mean = arith::DivFOp::create(b, l, sumSq, n);
      Value v = arith::AddFOp::create(b, l, mean,
                                      createFloatConstant(b, l, acc, eps));
      return arith::DivFOp::create(b, l, createFloatConstant(b, l, acc, 1.0),
                                   math::SqrtOp::create(b, l, v))
          .getResult();
    };
    Value dxInit = createEmpty(rewriter, loc, type,
                               tensor::getMixedSizes(rewriter, loc, x));
    Value dx =
        linalg::GenericOp::create(
            rewriter, loc, type, ValueRange{x, dy, w, ss, dot}, dxInit,
            {identity, identity, featureMap, rowMap, rowMap, identity},
            parallelIterators(rank),
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value xv = convertFloat(b, l, args[0], acc);
              Value g = arith::MulFOp::create(
                  b, l, convertFloat(b, l, args[1], acc),
                  convertFloat(b, l, args[2], acc));
              Value r = rms(b, l, args[3]);
              Value r3 = arith::MulFOp::create(
                  b, l, r, arith::MulFOp::create(b, l, r, r));
              Value corr = arith::MulFOp::create(
                  b, l, xv,
                  arith::MulFOp::create(
                      b, l, r3, arith::DivFOp::create(b, l, args[4], n)));
              Value d = arith::SubFOp::create(
                  b, l, arith::MulFOp::create(b, l, r, g), corr);
              linalg::YieldOp::create(
                  b, l, convertFloat(b, l, d, type.getElementType()));
            })
            .getResult(0);

    // dw[h] = Σ_rows dy · x · r, with the rows outermost.
    auto dwAccType = RankedTensorType::get(wType.getShape(), acc);
    Value dwInit =
        linalg::FillOp::create(
            rewriter, loc, createFloatConstant(rewriter, loc, acc, 0.0),
            createEmpty(rewriter, loc, dwAccType,
                        {getDim(rewriter, loc, x, axis)}))
            .getResult(0);
    SmallVector<utils::IteratorType> rowsReduced(
        rank, utils::IteratorType::reduction);
    rowsReduced[axis] = utils::IteratorType::parallel;
    Value dw = linalg::GenericOp::create(
                   rewriter, loc, dwAccType, ValueRange{x, dy, ss}, dwInit,
                   {identity, identity, rowMap, featureMap}, rowsReduced,
                   [&](OpBuilder &b, Location l, ValueRange args) {
                     Value p = arith::MulFOp::create(
                         b, l, convertFloat(b, l, args[0], acc),
                         convertFloat(b, l, args[1], acc));
                     p = arith::MulFOp::create(b, l, p, rms(b, l, args[2]));
                     linalg::YieldOp::create(
                         b, l, arith::AddFOp::create(b, l, args[3], p)
                                   .getResult());
                   })
                   .getResult(0);
    if (wType.getElementType() != acc) {
      AffineMap id1 = rewriter.getMultiDimIdentityMap(1);
      dw = linalg::GenericOp::create(
               rewriter, loc, wType, dw,
               createEmpty(rewriter, loc, wType, {getDim(rewriter, loc, dw, 0)}),
               {id1, id1}, parallelIterators(1),
               [&](OpBuilder &b, Location l, ValueRange args) {
                 linalg::YieldOp::create(
                     b, l, convertFloat(b, l, args[0], wType.getElementType()));
               })
               .getResult(0);
    } else if (dw.getType() != wType) {
      dw = tensor::CastOp::create(rewriter, loc, wType, dw);
    }
    rewriter.replaceOp(op, {dx, dw});
    return success();
  }
};

} // namespace

void mlir::rotor::populateNormsToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerRmsNormGrad>(patterns.getContext());
  patterns.add<LowerRmsNorm, LowerLayerNorm, LowerL2Normalize, LowerSoftmax>(
      patterns.getContext());
}
