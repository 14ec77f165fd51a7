//===- LowerLayers.cpp - Lower layers, embeddings and losses --------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// linear and conv1d are linalg.generic contractions that accumulate in f32
// (f64 for f64 data) into a linalg.fill-ed tensor of that type; a parallel
// epilogue adds the bias and narrows to the data type when either is
// needed. conv1d pads the sequence with tensor.pad and splits the channel
// dimensions into (groups, channels per group) with tensor.expand_shape, so
// every group, depthwise included, is a plain affine contraction.
//
// embedding and cross_entropy gather with tensor.extract in a generic body,
// with the index clamped into range so that no lowering reads out of
// bounds.
//
// split_heads and merge_heads are reshapes around a linalg.transpose.
//
//===----------------------------------------------------------------------===//

#include "rotor/Conversion/LoweringUtils.h"
#include "rotor/Conversion/MatmulKernel.h"
#include "rotor/Conversion/RotorToLinalg.h"
#include "rotor/Dialect/Rotor/RotorOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

using namespace mlir;
using namespace mlir::rotor;

/// A tensor of `type` filled with the float `value`.
static Value createFilled(OpBuilder &b, Location loc, RankedTensorType type,
                          ArrayRef<OpFoldResult> sizes, double value) {
  Value empty = createEmpty(b, loc, type, sizes);
  Value cst = createFloatConstant(b, loc, type.getElementType(), value);
  return linalg::FillOp::create(b, loc, cst, empty).getResult(0);
}

/// The sizes of every dimension of `v`.
static SmallVector<OpFoldResult> getDims(OpBuilder &b, Location loc, Value v) {
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0, e = cast<RankedTensorType>(v.getType()).getRank(); d < e;
       ++d)
    sizes.push_back(getDim(b, loc, v, d));
  return sizes;
}

/// The map of a rank-`rank` iteration space onto its first `n` dimensions.
/// (AffineMap::getMajorSubMap would return a null map for `n` = 0.)
static AffineMap getLeadingDimsMap(MLIRContext *ctx, int64_t rank, int64_t n) {
  SmallVector<AffineExpr> exprs;
  for (int64_t d = 0; d < n; ++d)
    exprs.push_back(getAffineDimExpr(d, ctx));
  return AffineMap::get(rank, 0, exprs, ctx);
}

/// `size / divisor` for a size known to be a multiple of `divisor`.
static OpFoldResult divideSize(OpBuilder &b, Location loc, OpFoldResult size,
                               int64_t divisor) {
  if (auto attr = dyn_cast<Attribute>(size))
    return b.getIndexAttr(cast<IntegerAttr>(attr).getInt() / divisor);
  return arith::DivUIOp::create(b, loc, cast<Value>(size),
                                createIndexConstant(b, loc, divisor))
      .getResult();
}

/// Splits dimension `dim` of `v` into (`parts`, size / `parts`) with
/// tensor.expand_shape. The split sizes are static exactly when the
/// dimension of `v` is, so the reshape is valid whatever is known.
static Value splitDim(OpBuilder &b, Location loc, Value v, int64_t dim,
                      int64_t parts) {
  auto type = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape;
  SmallVector<OpFoldResult> outputShape;
  SmallVector<ReassociationIndices> reassociation;
  for (int64_t d = 0; d < type.getRank(); ++d) {
    int64_t next = static_cast<int64_t>(shape.size());
    OpFoldResult size = getDim(b, loc, v, d);
    if (d != dim) {
      shape.push_back(type.getDimSize(d));
      outputShape.push_back(size);
      reassociation.push_back({next});
      continue;
    }
    int64_t inner = type.isDynamicDim(d) ? ShapedType::kDynamic
                                         : type.getDimSize(d) / parts;
    shape.append({parts, inner});
    outputShape.append(
        {b.getIndexAttr(parts), divideSize(b, loc, size, parts)});
    reassociation.push_back({next, next + 1});
  }
  auto expandedType = RankedTensorType::get(shape, type.getElementType());
  return tensor::ExpandShapeOp::create(b, loc, expandedType, v, reassociation,
                                       outputShape);
}

/// Reduces the last dimension of `input` into a tensor of type `acc`
/// without it, starting from `init`. The body receives the widened element,
/// the elements of `rowInputs` (tensors of the reduced shape) and the
/// accumulator.
static Value reduceLastDim(
    OpBuilder &b, Location loc, Value input, FloatType acc, double init,
    ValueRange rowInputs,
    function_ref<Value(OpBuilder &, Location, Value, ValueRange, Value)>
        combine) {
  auto type = cast<RankedTensorType>(input.getType());
  int64_t rank = type.getRank();
  SmallVector<OpFoldResult> sizes = getDims(b, loc, input);
  sizes.pop_back();
  auto rowType = RankedTensorType::get(type.getShape().drop_back(), acc);
  Value filled = createFilled(b, loc, rowType, sizes, init);

  AffineMap rowMap = getLeadingDimsMap(b.getContext(), rank, rank - 1);
  SmallVector<Value> inputs = {input};
  llvm::append_range(inputs, rowInputs);
  SmallVector<AffineMap> maps = {b.getMultiDimIdentityMap(rank)};
  maps.append(rowInputs.size() + 1, rowMap);
  SmallVector<utils::IteratorType> iterators = parallelIterators(rank);
  iterators.back() = utils::IteratorType::reduction;
  return linalg::GenericOp::create(
             b, loc, rowType, inputs, filled, maps, iterators,
             [&](OpBuilder &nb, Location nl, ValueRange args) {
               Value x = convertFloat(nb, nl, args.front(), acc);
               linalg::YieldOp::create(nb, nl,
                                       combine(nb, nl, x,
                                               args.slice(1, rowInputs.size()),
                                               args.back()));
             })
      .getResult(0);
}

/// Narrows the accumulator `acc` (a tensor of the accumulation type) to
/// `resultType`, adding `bias`, when given, read at the loop dimensions
/// `biasDims`. The addition happens in the accumulation type.
static Value buildEpilogue(OpBuilder &b, Location loc, Value acc,
                           RankedTensorType resultType, Value bias,
                           ArrayRef<int64_t> biasDims) {
  int64_t rank = resultType.getRank();
  Type elem = resultType.getElementType();
  Type accElem = cast<RankedTensorType>(acc.getType()).getElementType();
  Value init = createEmpty(b, loc, resultType, getDims(b, loc, acc));
  SmallVector<Value> inputs = {acc};
  SmallVector<AffineMap> maps = {b.getMultiDimIdentityMap(rank)};
  if (bias) {
    SmallVector<AffineExpr> exprs;
    for (int64_t d : biasDims)
      exprs.push_back(b.getAffineDimExpr(d));
    inputs.push_back(bias);
    maps.push_back(AffineMap::get(rank, 0, exprs, b.getContext()));
  }
  maps.push_back(b.getMultiDimIdentityMap(rank));
  return linalg::GenericOp::create(
             b, loc, resultType, inputs, init, maps, parallelIterators(rank),
             [&](OpBuilder &nb, Location nl, ValueRange args) {
               Value y = args[0];
               if (bias)
                 y = arith::AddFOp::create(
                     nb, nl, y, convertFloat(nb, nl, args[1], accElem));
               linalg::YieldOp::create(nb, nl, convertFloat(nb, nl, y, elem));
             })
      .getResult(0);
}

namespace {

/// linear(x (L..., K), W (N, K), b (N)) =>
///   acc = generic (L..., n, k) { acc += x[L..., k] * W[n, k] }  (reduction k)
///   y   = generic { acc + b[n] }, narrowed
struct LowerLinear : OpRewritePattern<LinearOp> {
  LowerLinear(MLIRContext *ctx, bool useVectorKernel, bool parallel)
      : OpRewritePattern(ctx), useVectorKernel(useVectorKernel),
        parallel(parallel) {}
  bool useVectorKernel, parallel;

  LogicalResult matchAndRewrite(LinearOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput(), w = op.getWeight();
    auto resultType = cast<RankedTensorType>(op.getResult().getType());
    // Static weights (the usual case) get the vectorized kernel.
    if (useVectorKernel) {
      if (auto y = buildVectorMatmul(rewriter, loc, x, w, op.getBias(),
                                     WeightLayout::NK, resultType, parallel);
          succeeded(y)) {
        rewriter.replaceOp(op, *y);
        return success();
      }
    }
    Type elem = resultType.getElementType();
    FloatType acc = getAccumulationType(elem);
    int64_t rank = resultType.getRank();
    MLIRContext *ctx = rewriter.getContext();

    SmallVector<OpFoldResult> sizes = getDims(rewriter, loc, x);
    sizes.back() = getDim(rewriter, loc, w, 0);
    Value init = createFilled(rewriter, loc, resultType.clone(acc), sizes, 0.0);

    // Loops (L..., n, k): the leading dims, the output feature, then the
    // reduced input feature.
    SmallVector<AffineExpr> xExprs;
    for (int64_t d = 0; d + 1 < rank; ++d)
      xExprs.push_back(getAffineDimExpr(d, ctx));
    xExprs.push_back(getAffineDimExpr(rank, ctx));
    AffineExpr n = getAffineDimExpr(rank - 1, ctx);
    AffineExpr k = getAffineDimExpr(rank, ctx);
    SmallVector<AffineMap> maps = {AffineMap::get(rank + 1, 0, xExprs, ctx),
                                   AffineMap::get(rank + 1, 0, {n, k}, ctx),
                                   getLeadingDimsMap(ctx, rank + 1, rank)};
    SmallVector<utils::IteratorType> iterators = parallelIterators(rank + 1);
    iterators.back() = utils::IteratorType::reduction;
    Value product = linalg::GenericOp::create(
                        rewriter, loc, init.getType(), ValueRange{x, w}, init,
                        maps, iterators,
                        [&](OpBuilder &b, Location l, ValueRange args) {
                          Value lhs = convertFloat(b, l, args[0], acc);
                          Value rhs = convertFloat(b, l, args[1], acc);
                          Value p = arith::MulFOp::create(b, l, lhs, rhs);
                          Value sum = arith::AddFOp::create(b, l, args[2], p);
                          linalg::YieldOp::create(b, l, sum);
                        })
                        .getResult(0);

    Value bias = op.getBias();
    if (!bias && acc == elem) {
      rewriter.replaceOp(op, product);
      return success();
    }
    rewriter.replaceOp(op, buildEpilogue(rewriter, loc, product, resultType,
                                         bias, {rank - 1}));
    return success();
  }
};

} // namespace

Value mlir::rotor::sumOuterProducts(OpBuilder &b, Location loc, Value g,
                                    Value x, FloatType acc) {
  int64_t rank = cast<RankedTensorType>(g.getType()).getRank();
  MLIRContext *ctx = b.getContext();
  SmallVector<OpFoldResult> sizes = {getDim(b, loc, g, rank - 1),
                                     getDim(b, loc, x, rank - 1)};
  auto accType = RankedTensorType::get(
      {cast<RankedTensorType>(g.getType()).getDimSize(rank - 1),
       cast<RankedTensorType>(x.getType()).getDimSize(rank - 1)},
      acc);
  Value init = createFilled(b, loc, accType, sizes, 0.0);

  // Loops (L..., n, k): the reduced leading dims outermost, so that each
  // row of g and x is read once.
  SmallVector<AffineExpr> gExprs, xExprs;
  for (int64_t d = 0; d + 1 < rank; ++d) {
    gExprs.push_back(getAffineDimExpr(d, ctx));
    xExprs.push_back(getAffineDimExpr(d, ctx));
  }
  AffineExpr n = getAffineDimExpr(rank - 1, ctx);
  AffineExpr k = getAffineDimExpr(rank, ctx);
  gExprs.push_back(n);
  xExprs.push_back(k);
  SmallVector<AffineMap> maps = {AffineMap::get(rank + 1, 0, gExprs, ctx),
                                 AffineMap::get(rank + 1, 0, xExprs, ctx),
                                 AffineMap::get(rank + 1, 0, {n, k}, ctx)};
  SmallVector<utils::IteratorType> iterators(rank + 1,
                                             utils::IteratorType::reduction);
  iterators[rank - 1] = iterators[rank] = utils::IteratorType::parallel;
  return linalg::GenericOp::create(
             b, loc, accType, ValueRange{g, x}, init, maps, iterators,
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value lhs = convertFloat(nb, l, args[0], acc);
               Value rhs = convertFloat(nb, l, args[1], acc);
               Value p = arith::MulFOp::create(nb, l, lhs, rhs);
               Value sum = arith::AddFOp::create(nb, l, args[2], p);
               linalg::YieldOp::create(nb, l, sum);
             })
      .getResult(0);
}

namespace {

/// linear_weight_grad(g (L..., N), x (L..., K)) =>
///   acc = generic (L..., n, k) { acc[n, k] += g[L..., n] * x[L..., k] }
///                                                  (reduction L...)
///   dW  = acc, narrowed
struct LowerLinearWeightGrad : OpRewritePattern<LinearWeightGradOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(LinearWeightGradOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto resultType = cast<RankedTensorType>(op.getResult().getType());
    Type elem = resultType.getElementType();
    FloatType acc = getAccumulationType(elem);
    Value product =
        sumOuterProducts(rewriter, loc, op.getGrad(), op.getInput(), acc);
    if (acc == elem) {
      if (product.getType() != resultType)
        product = tensor::CastOp::create(rewriter, loc, resultType, product);
      rewriter.replaceOp(op, product);
      return success();
    }
    rewriter.replaceOp(
        op, buildEpilogue(rewriter, loc, product, resultType, Value(), {}));
    return success();
  }
};

/// The unfused form of an activation: the rotor op computing it.
static Value activate(PatternRewriter &rewriter, Location loc, Activation act,
                      Value v) {
  switch (act) {
  case Activation::none:
    return v;
  case Activation::relu:
    return ReluOp::create(rewriter, loc, v);
  case Activation::silu:
    return SiluOp::create(rewriter, loc, v);
  case Activation::gelu:
    return GeluOp::create(rewriter, loc, v, GeluApproximation::none);
  case Activation::gelu_tanh:
    return GeluOp::create(rewriter, loc, v, GeluApproximation::tanh);
  }
  llvm_unreachable("unknown activation");
}

/// The input of a fused linear with its RMS-norm prologue applied by a
/// rotor.rms_norm (the unfused form), or the input itself without one.
static Value normalizedInput(PatternRewriter &rewriter, Location loc, Value x,
                             Value normWeight,
                             std::optional<llvm::APFloat> epsilon) {
  if (!normWeight)
    return x;
  return RmsNormOp::create(rewriter, loc, x, normWeight,
                           rewriter.getF64FloatAttr(epsilon->convertToDouble()));
}

/// The RMS-norm prologue of a fused op for the matmul kernel.
template <typename OpTy>
static void setNormPrologue(OpTy op, MatmulEpilogue &epilogue) {
  epilogue.normWeight = op.getNormWeight();
  if (auto eps = op.getNormEpsilon())
    epilogue.normEpsilon = eps->convertToDouble();
}

/// fused_linear(x, W, b, r, rms_norm g) {act} =>
///   the matmul kernel with the norm in its prologue, act and + r in its
///   epilogue (static W), or
///   add(act(linear(rms_norm(x, g), W, b)), r) (dynamic W, or
///   vector-matmul=false)
struct LowerFusedLinear : OpRewritePattern<FusedLinearOp> {
  LowerFusedLinear(MLIRContext *ctx, bool useVectorKernel, bool parallel)
      : OpRewritePattern(ctx), useVectorKernel(useVectorKernel),
        parallel(parallel) {}
  bool useVectorKernel, parallel;

  LogicalResult matchAndRewrite(FusedLinearOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto resultType = cast<RankedTensorType>(op.getType());
    if (useVectorKernel) {
      MatmulEpilogue epilogue;
      epilogue.activation = op.getActivation();
      epilogue.residual = op.getResidual();
      setNormPrologue(op, epilogue);
      if (auto y = buildVectorMatmul(rewriter, loc, op.getInput(),
                                     op.getWeight(), op.getBias(),
                                     WeightLayout::NK, resultType, parallel,
                                     epilogue);
          succeeded(y)) {
        rewriter.replaceOp(op, *y);
        return success();
      }
    }
    Value x = normalizedInput(rewriter, loc, op.getInput(), op.getNormWeight(),
                              op.getNormEpsilon());
    Value y = LinearOp::create(rewriter, loc, x, op.getWeight(), op.getBias());
    y = activate(rewriter, loc, op.getActivation(), y);
    if (Value r = op.getResidual())
      y = AddOp::create(rewriter, loc, y, r);
    rewriter.replaceOp(op, y);
    return success();
  }
};

/// fused_gate_up(x, Wg, Wu, rms_norm g) =>
///   the matmul kernel with two weights, the norm in its prologue and
///   silu(g) * u in its epilogue, or
///   swiglu(linear(rms_norm(x, g), Wg), linear(rms_norm(x, g), Wu))
struct LowerFusedGateUp : OpRewritePattern<FusedGateUpOp> {
  LowerFusedGateUp(MLIRContext *ctx, bool useVectorKernel, bool parallel)
      : OpRewritePattern(ctx), useVectorKernel(useVectorKernel),
        parallel(parallel) {}
  bool useVectorKernel, parallel;

  LogicalResult matchAndRewrite(FusedGateUpOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto resultType = cast<RankedTensorType>(op.getType());
    if (useVectorKernel) {
      MatmulEpilogue epilogue;
      epilogue.upWeight = op.getUpWeight();
      setNormPrologue(op, epilogue);
      if (auto y = buildVectorMatmul(rewriter, loc, op.getInput(),
                                     op.getGateWeight(), Value(),
                                     WeightLayout::NK, resultType, parallel,
                                     epilogue);
          succeeded(y)) {
        rewriter.replaceOp(op, *y);
        return success();
      }
    }
    Value x = normalizedInput(rewriter, loc, op.getInput(), op.getNormWeight(),
                              op.getNormEpsilon());
    Value g = LinearOp::create(rewriter, loc, x, op.getGateWeight(), Value());
    Value u = LinearOp::create(rewriter, loc, x, op.getUpWeight(), Value());
    rewriter.replaceOpWithNewOp<SwigluOp>(op, g, u);
    return success();
  }
};

/// embedding(ids (P...), table (V, H)) =>
///   generic (P..., h) {
///     ok = 0 <= id < V
///     yield ok ? table[ok ? id : 0, h] : 0
///   }
///
/// Ids outside [0, V) give a zero row; the clamped index keeps the read in
/// bounds. A table with a dynamic number of rows must have at least one.
struct LowerEmbedding : OpRewritePattern<EmbeddingOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(EmbeddingOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value ids = op.getIds(), table = op.getTable();
    auto resultType = cast<RankedTensorType>(op.getResult().getType());
    Type elem = resultType.getElementType();
    int64_t rank = resultType.getRank();
    SmallVector<OpFoldResult> sizes = getDims(rewriter, loc, ids);
    sizes.push_back(getDim(rewriter, loc, table, 1));

    // With no rows every id is out of range.
    if (op.getTable().getType().getDimSize(0) == 0) {
      rewriter.replaceOp(op,
                         createFilled(rewriter, loc, resultType, sizes, 0.0));
      return success();
    }

    Value init = createEmpty(rewriter, loc, resultType, sizes);
    Value numRows = getDimValue(rewriter, loc, table, 0);
    SmallVector<AffineMap> maps = {
        getLeadingDimsMap(rewriter.getContext(), rank, rank - 1),
        rewriter.getMultiDimIdentityMap(rank)};
    Value result =
        linalg::GenericOp::create(
            rewriter, loc, resultType, ids, init, maps, parallelIterators(rank),
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value id =
                  arith::IndexCastOp::create(b, l, b.getIndexType(), args[0]);
              Value zero = createIndexConstant(b, l, 0);
              Value nonNegative = arith::CmpIOp::create(
                  b, l, arith::CmpIPredicate::sge, id, zero);
              Value belowEnd = arith::CmpIOp::create(
                  b, l, arith::CmpIPredicate::slt, id, numRows);
              Value ok = arith::AndIOp::create(b, l, nonNegative, belowEnd);
              Value row = arith::SelectOp::create(b, l, ok, id, zero);
              Value col = linalg::IndexOp::create(b, l, rank - 1);
              Value v =
                  tensor::ExtractOp::create(b, l, table, ValueRange{row, col});
              Value y = arith::SelectOp::create(
                  b, l, ok, v, createFloatConstant(b, l, elem, 0.0));
              linalg::YieldOp::create(b, l, y);
            })
            .getResult(0);
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// conv1d(x (B, S, Cin), w (Cout, Cg, K), b (Cout)) with G groups =>
///   xp  = tensor.pad x by (left, K - 1 - left) along S, zeros
///         (left = K - 1 for causal, (K - 1) / 2 for same)
///   xg  = expand xp to (B, S + K - 1, G, Cg)
///   wg  = expand w to (G, Og, Cg, K)
///   acc = generic (b, t, g, o, c, k) {
///           acc[b, t, g, o] += xg[b, t + k, g, c] * wg[g, o, c, k]
///         }                                   (reduction c, k)
///   y   = collapse (generic { acc + b[g, o] }, narrowed) to (B, S, Cout)
struct LowerConv1d : OpRewritePattern<Conv1dOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(Conv1dOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput(), w = op.getWeight();
    auto xType = op.getInput().getType();
    auto resultType = cast<RankedTensorType>(op.getResult().getType());
    Type elem = resultType.getElementType();
    FloatType acc = getAccumulationType(elem);
    int64_t groups = op.getGroupsAttr().getInt();
    bool causal = op.getPadding() == ConvPadding::causal;
    MLIRContext *ctx = rewriter.getContext();

    // Padding of the sequence: `left` zeros before, `right` after, K - 1 in
    // all, so output t reads padded inputs t .. t + K - 1.
    int64_t kernel = op.getWeight().getType().getDimSize(2);
    OpFoldResult left, right;
    if (!ShapedType::isDynamic(kernel)) {
      int64_t l = causal ? kernel - 1 : (kernel - 1) / 2;
      left = rewriter.getIndexAttr(l);
      right = rewriter.getIndexAttr(kernel - 1 - l);
    } else {
      Value k = getDimValue(rewriter, loc, w, 2);
      Value km1 = arith::SubIOp::create(rewriter, loc, k,
                                        createIndexConstant(rewriter, loc, 1));
      Value l =
          causal ? km1
                 : arith::DivUIOp::create(rewriter, loc, km1,
                                          createIndexConstant(rewriter, loc, 2))
                       .getResult();
      left = l;
      right = arith::SubIOp::create(rewriter, loc, km1, l).getResult();
    }
    Value padded = x;
    if (kernel != 1) {
      Attribute zeroAttr = rewriter.getIndexAttr(0);
      int64_t seq = xType.getDimSize(1);
      int64_t paddedSeq =
          ShapedType::isDynamic(seq) || ShapedType::isDynamic(kernel)
              ? ShapedType::kDynamic
              : seq + kernel - 1;
      auto paddedType = RankedTensorType::get(
          {xType.getDimSize(0), paddedSeq, xType.getDimSize(2)},
          xType.getElementType());
      padded = tensor::PadOp::create(
          rewriter, loc, paddedType, x,
          ArrayRef<OpFoldResult>{zeroAttr, left, zeroAttr},
          ArrayRef<OpFoldResult>{zeroAttr, right, zeroAttr},
          createFloatConstant(rewriter, loc, xType.getElementType(), 0.0));
    }

    Value xg = splitDim(rewriter, loc, padded, 2, groups);
    Value wg = splitDim(rewriter, loc, w, 0, groups);
    auto wgType = cast<RankedTensorType>(wg.getType());
    auto accType =
        RankedTensorType::get({xType.getDimSize(0), xType.getDimSize(1), groups,
                               wgType.getDimSize(1)},
                              acc);
    Value init = createFilled(
        rewriter, loc, accType,
        {getDim(rewriter, loc, x, 0), getDim(rewriter, loc, x, 1),
         rewriter.getIndexAttr(groups), getDim(rewriter, loc, wg, 1)},
        0.0);

    AffineExpr bd, t, g, o, c, k;
    bindDims(ctx, bd, t, g, o, c, k);
    SmallVector<AffineMap> maps = {AffineMap::get(6, 0, {bd, t + k, g, c}, ctx),
                                   AffineMap::get(6, 0, {g, o, c, k}, ctx),
                                   AffineMap::get(6, 0, {bd, t, g, o}, ctx)};
    SmallVector<utils::IteratorType> iterators = parallelIterators(6);
    iterators[4] = iterators[5] = utils::IteratorType::reduction;
    Value conv =
        linalg::GenericOp::create(
            rewriter, loc, accType, ValueRange{xg, wg}, init, maps, iterators,
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value lhs = convertFloat(b, l, args[0], acc);
              Value rhs = convertFloat(b, l, args[1], acc);
              Value p = arith::MulFOp::create(b, l, lhs, rhs);
              Value sum = arith::AddFOp::create(b, l, args[2], p);
              linalg::YieldOp::create(b, l, sum);
            })
            .getResult(0);

    Value bias = op.getBias();
    if (bias || acc != elem) {
      Value biasGroups = bias ? splitDim(rewriter, loc, bias, 0, groups) : bias;
      conv = buildEpilogue(rewriter, loc, conv, accType.clone(elem), biasGroups,
                           {2, 3});
    }
    SmallVector<ReassociationIndices> reassociation = {{0}, {1}, {2, 3}};
    rewriter.replaceOpWithNewOp<tensor::CollapseShapeOp>(op, resultType, conv,
                                                         reassociation);
    return success();
  }
};

/// split_heads(x (B, S, H·D)) =>
///   linalg.transpose (expand x to (B, S, H, D)) by [0, 2, 1, 3]
struct LowerSplitHeads : OpRewritePattern<SplitHeadsOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(SplitHeadsOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto resultType = cast<RankedTensorType>(op.getResult().getType());
    int64_t heads = op.getNumHeadsAttr().getInt();
    Value expanded = splitDim(rewriter, loc, op.getInput(), 2, heads);
    SmallVector<OpFoldResult> sizes = getDims(rewriter, loc, expanded);
    std::swap(sizes[1], sizes[2]);
    Value init = createEmpty(rewriter, loc, resultType, sizes);
    Value result = linalg::TransposeOp::create(rewriter, loc, expanded, init,
                                               ArrayRef<int64_t>{0, 2, 1, 3})
                       .getResult()[0];
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// cache_write(u, c, start) along axis a, S = dim(u, a), C = dim(c, a) =>
///   lo = clamp(start, 0, C), hi = clamp(start + S, 0, C)
///   tensor.insert_slice (tensor.extract_slice u [lo - start, hi - lo) on a)
///       into c [lo, hi) on a
/// (rows outside the cache are dropped; bufferization writes in place when
/// the cache's buffer may be written, else into a copy).
struct LowerCacheWrite : OpRewritePattern<CacheWriteOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(CacheWriteOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    int64_t axis = op.getAxis();
    Value update = op.getUpdate(), cache = op.getCache();
    Value start = extractIndexScalar(rewriter, loc, op.getStart());
    Value rows = getDimValue(rewriter, loc, update, axis);
    Value capacity = getDimValue(rewriter, loc, cache, axis);
    Value zero = createIndexConstant(rewriter, loc, 0);
    Value lo = arith::MinSIOp::create(
        rewriter, loc, arith::MaxSIOp::create(rewriter, loc, start, zero),
        capacity);
    Value hi = clampedEnd(rewriter, loc, start, rows, capacity);
    Value count = arith::MaxSIOp::create(
        rewriter, loc, arith::SubIOp::create(rewriter, loc, hi, lo), zero);
    // lo - start is in [0, S] whenever count > 0 (and unused otherwise, but
    // kept in range): clamp it to [0, S - count].
    Value skip = arith::MinSIOp::create(
        rewriter, loc,
        arith::MaxSIOp::create(rewriter, loc,
                               arith::SubIOp::create(rewriter, loc, lo, start),
                               zero),
        arith::SubIOp::create(rewriter, loc, rows, count));
    int64_t rank = op.getCache().getType().getRank();
    SmallVector<OpFoldResult> srcOffsets(rank, rewriter.getIndexAttr(0));
    SmallVector<OpFoldResult> dstOffsets(rank, rewriter.getIndexAttr(0));
    SmallVector<OpFoldResult> sizes = getDims(rewriter, loc, update);
    SmallVector<OpFoldResult> strides(rank, rewriter.getIndexAttr(1));
    srcOffsets[axis] = skip;
    dstOffsets[axis] = lo;
    sizes[axis] = count;
    Value rowsToWrite = tensor::ExtractSliceOp::create(
        rewriter, loc, update, srcOffsets, sizes, strides);
    rewriter.replaceOpWithNewOp<tensor::InsertSliceOp>(
        op, rowsToWrite, cache, dstOffsets, sizes, strides);
    return success();
  }
};

/// merge_heads(x (B, H, S, D)) =>
///   collapse (linalg.transpose x by [0, 2, 1, 3]) to (B, S, H·D)
struct LowerMergeHeads : OpRewritePattern<MergeHeadsOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MergeHeadsOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto xType = op.getInput().getType();
    ArrayRef<int64_t> s = xType.getShape();
    auto transposedType =
        RankedTensorType::get({s[0], s[2], s[1], s[3]}, xType.getElementType());
    SmallVector<OpFoldResult> sizes = getDims(rewriter, loc, x);
    std::swap(sizes[1], sizes[2]);
    Value init = createEmpty(rewriter, loc, transposedType, sizes);
    Value transposed =
        linalg::TransposeOp::create(rewriter, loc, x, init,
                                    ArrayRef<int64_t>{0, 2, 1, 3})
            .getResult()[0];
    SmallVector<ReassociationIndices> reassociation = {{0}, {1}, {2, 3}};
    rewriter.replaceOpWithNewOp<tensor::CollapseShapeOp>(
        op, op.getResult().getType(), transposed, reassociation);
    return success();
  }
};

/// sinusoidal_embedding(p (P...), f (F)) =>
///   e  = tensor.empty (P..., 2F)
///   s  = generic (P..., i) { sin(p * f[i]) } outs (e[..., 0:F])
///   e' = insert s into e at [..., 0]
///   c  = generic (P..., i) { cos(p * f[i]) } outs (e'[..., F:2F])
///   y  = insert c into e' at [..., F]
///
/// Each half is computed into a slice of the value it is inserted back
/// into, so one-shot bufferization writes both in place. Angles and their
/// sin/cos are computed in f64, so that positions up to 10^6 keep their
/// accuracy (an f32 angle would be off by up to 0.06 there); the results
/// are rounded once to the result type.
struct LowerSinusoidalEmbedding : OpRewritePattern<SinusoidalEmbeddingOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(SinusoidalEmbeddingOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value positions = op.getPositions(), freqs = op.getFreqs();
    auto resultType = cast<RankedTensorType>(op.getResult().getType());
    Type elem = resultType.getElementType();
    Type posElem = op.getPositions().getType().getElementType();
    FloatType compute = rewriter.getF64Type();
    int64_t rank = resultType.getRank();

    SmallVector<OpFoldResult> sizes = getDims(rewriter, loc, positions);
    OpFoldResult numFreqs = getDim(rewriter, loc, freqs, 0);
    sizes.push_back(numFreqs);
    SmallVector<OpFoldResult> resultSizes(sizes);
    if (auto attr = dyn_cast<Attribute>(numFreqs))
      resultSizes.back() =
          rewriter.getIndexAttr(2 * cast<IntegerAttr>(attr).getInt());
    else
      resultSizes.back() =
          arith::MulIOp::create(rewriter, loc, cast<Value>(numFreqs),
                                createIndexConstant(rewriter, loc, 2))
              .getResult();
    Value result = createEmpty(rewriter, loc, resultType, resultSizes);

    MLIRContext *ctx = rewriter.getContext();
    AffineMap identity = AffineMap::getMultiDimIdentityMap(rank, ctx);
    SmallVector<AffineMap> maps = {
        getLeadingDimsMap(ctx, rank, rank - 1),
        AffineMap::get(rank, 0, getAffineDimExpr(rank - 1, ctx)), identity};
    SmallVector<OpFoldResult> ones(rank, rewriter.getIndexAttr(1));
    auto buildHalf = [&](Value dest, OpFoldResult offset, bool cosine) {
      SmallVector<OpFoldResult> offsets(rank, rewriter.getIndexAttr(0));
      offsets.back() = offset;
      Value slice = tensor::ExtractSliceOp::create(rewriter, loc, dest, offsets,
                                                   sizes, ones);
      Value half =
          linalg::GenericOp::create(
              rewriter, loc, slice.getType(), ValueRange{positions, freqs},
              slice, maps, parallelIterators(rank),
              [&](OpBuilder &b, Location l, ValueRange args) {
                Value p = isa<IntegerType>(posElem)
                              ? arith::SIToFPOp::create(b, l, compute, args[0])
                                    .getResult()
                              : convertFloat(b, l, args[0], compute);
                Value angle = arith::MulFOp::create(
                    b, l, p, convertFloat(b, l, args[1], compute));
                Value v = cosine ? math::CosOp::create(b, l, angle).getResult()
                                 : math::SinOp::create(b, l, angle).getResult();
                linalg::YieldOp::create(b, l, convertFloat(b, l, v, elem));
              })
              .getResult(0);
      return tensor::InsertSliceOp::create(rewriter, loc, half, dest, offsets,
                                           sizes, ones)
          .getResult();
    };
    result = buildHalf(result, rewriter.getIndexAttr(0), /*cosine=*/false);
    result = buildHalf(result, numFreqs, /*cosine=*/true);
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// cross_entropy(logits (R..., V), labels (R...)) =>
///   m        = reduce(max logits) over V
///   s        = reduce(sum exp(logits - m)) over V
///   (sum, n) = generic (R...) all-reduction {
///                if label != ignore_index:
///                  sum += log(s) + m - logits[R..., label]; n += 1
///              }
///   loss     = generic () { n > 0 ? sum / n : 0 }
///
/// Statistics are computed in the result type (f32, or f64 for f64 logits);
/// the count is an i64. A counted label outside [0, V) is not checked at
/// run time: it contributes NaN, so the loss is NaN, and the logit read is
/// clamped in bounds (a dynamic V must then be at least 1; a static V of 0
/// reads nothing).
struct LowerCrossEntropy : OpRewritePattern<CrossEntropyOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(CrossEntropyOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value logits = op.getLogits(), labels = op.getLabels();
    auto logitsType = op.getLogits().getType();
    // With no classes every counted label is out of range: nothing to read.
    bool noClasses = logitsType.getDimSize(logitsType.getRank() - 1) == 0;
    auto lossType = cast<RankedTensorType>(op.getLoss().getType());
    auto acc = cast<FloatType>(lossType.getElementType());
    int64_t rows = op.getLabels().getType().getRank();
    int64_t ignoreIndex = op.getIgnoreIndexAttr().getInt();
    MLIRContext *ctx = rewriter.getContext();

    Value max = reduceLastDim(
        rewriter, loc, logits, acc, -std::numeric_limits<double>::infinity(),
        {},
        [](OpBuilder &b, Location l, Value x, ValueRange, Value m) -> Value {
          return arith::MaximumFOp::create(b, l, m, x);
        });
    Value sumExp =
        reduceLastDim(rewriter, loc, logits, acc, 0.0, max,
                      [](OpBuilder &b, Location l, Value x, ValueRange row,
                         Value s) -> Value {
                        Value e = math::ExpOp::create(
                            b, l, arith::SubFOp::create(b, l, x, row[0]));
                        return arith::AddFOp::create(b, l, s, e);
                      });

    // Sum of the per-row losses and number of counted rows.
    Type i64 = rewriter.getI64Type();
    auto scalarAcc = RankedTensorType::get({}, acc);
    auto scalarCount = RankedTensorType::get({}, i64);
    auto i64Const = [&](int64_t v) {
      return arith::ConstantOp::create(rewriter, loc,
                                       rewriter.getI64IntegerAttr(v))
          .getResult();
    };
    Value zeroI64 = i64Const(0), oneI64 = i64Const(1);
    Value ignored = i64Const(ignoreIndex);
    Value nan = createFloatConstant(rewriter, loc, acc,
                                    std::numeric_limits<double>::quiet_NaN());
    Value zero = createFloatConstant(rewriter, loc, acc, 0.0);
    Value lossInit = createFilled(rewriter, loc, scalarAcc, {}, 0.0);
    Value countInit =
        linalg::FillOp::create(rewriter, loc, zeroI64,
                               createEmpty(rewriter, loc, scalarCount, {}))
            .getResult(0);
    Value numClasses;
    if (!noClasses)
      numClasses = arith::IndexCastOp::create(
          rewriter, loc, i64,
          getDimValue(rewriter, loc, logits, logitsType.getRank() - 1));
    AffineMap rowMap = AffineMap::getMultiDimIdentityMap(rows, ctx);
    AffineMap scalarMap = AffineMap::get(rows, 0, {}, ctx);
    SmallVector<utils::IteratorType> iterators(rows,
                                               utils::IteratorType::reduction);
    auto totals = linalg::GenericOp::create(
        rewriter, loc, TypeRange{scalarAcc, scalarCount},
        ValueRange{labels, max, sumExp}, ValueRange{lossInit, countInit},
        {rowMap, rowMap, rowMap, scalarMap, scalarMap}, iterators,
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value label = args[0];
          if (label.getType() != i64)
            label = arith::ExtSIOp::create(b, l, i64, label);
          Value counted = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne,
                                                label, ignored);
          Value rowLoss = nan;
          if (!noClasses) {
            Value nonNegative = arith::CmpIOp::create(
                b, l, arith::CmpIPredicate::sge, label, zeroI64);
            Value belowEnd = arith::CmpIOp::create(
                b, l, arith::CmpIPredicate::slt, label, numClasses);
            Value inRange = arith::AndIOp::create(b, l, nonNegative, belowEnd);
            Value cls = arith::IndexCastOp::create(
                b, l, b.getIndexType(),
                arith::SelectOp::create(b, l, inRange, label, zeroI64));
            SmallVector<Value> indices;
            for (int64_t d = 0; d < rows; ++d)
              indices.push_back(linalg::IndexOp::create(b, l, d));
            indices.push_back(cls);
            Value logit = convertFloat(
                b, l, tensor::ExtractOp::create(b, l, logits, indices), acc);
            // logsumexp - logit = log(s) + m - logit
            Value lse = arith::AddFOp::create(
                b, l, math::LogOp::create(b, l, args[2]), args[1]);
            rowLoss = arith::SelectOp::create(
                b, l, inRange, arith::SubFOp::create(b, l, lse, logit), nan);
          }
          Value sum = arith::SelectOp::create(
              b, l, counted, arith::AddFOp::create(b, l, args[3], rowLoss),
              args[3]);
          Value count = arith::SelectOp::create(
              b, l, counted, arith::AddIOp::create(b, l, args[4], oneI64),
              args[4]);
          linalg::YieldOp::create(b, l, ValueRange{sum, count});
        });

    AffineMap empty0 = AffineMap::get(0, 0, {}, ctx);
    Value loss =
        linalg::GenericOp::create(
            rewriter, loc, lossType,
            ValueRange{totals.getResult(0), totals.getResult(1)},
            createEmpty(rewriter, loc, lossType, {}),
            SmallVector<AffineMap>(3, empty0), ArrayRef<utils::IteratorType>{},
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value count = arith::UIToFPOp::create(b, l, acc, args[1]);
              Value any = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne,
                                                args[1], zeroI64);
              Value mean = arith::DivFOp::create(b, l, args[0], count);
              linalg::YieldOp::create(
                  b, l,
                  arith::SelectOp::create(b, l, any, mean, zero).getResult());
            })
            .getResult(0);
    rewriter.replaceOp(op, loss);
    return success();
  }
};

/// cross_entropy_grad(logits (R..., V), labels (R...), g) =>
///   m = max_c logits, s = Σ_c exp(logits - m)              (per row)
///   n = Σ_rows (label != ignore)
///   d = generic (R..., c) {
///         counted ? g / n · (exp(logits - m) / s - (c == label)) : 0 }
struct LowerCrossEntropyGrad : OpRewritePattern<CrossEntropyGradOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(CrossEntropyGradOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value logits = op.getLogits(), labels = op.getLabels();
    auto type = cast<RankedTensorType>(op.getResult().getType());
    Type elem = type.getElementType();
    auto acc = cast<FloatType>(op.getGradLoss().getType().getElementType());
    int64_t rank = type.getRank(), rows = rank - 1;
    int64_t ignoreIndex = op.getIgnoreIndexAttr().getInt();
    MLIRContext *ctx = rewriter.getContext();
    Type i64 = rewriter.getI64Type();

    Value max = reduceLastDim(
        rewriter, loc, logits, acc, -std::numeric_limits<double>::infinity(),
        {},
        [](OpBuilder &b, Location l, Value x, ValueRange, Value m) -> Value {
          return arith::MaximumFOp::create(b, l, m, x);
        });
    Value sumExp =
        reduceLastDim(rewriter, loc, logits, acc, 0.0, max,
                      [](OpBuilder &b, Location l, Value x, ValueRange row,
                         Value s) -> Value {
                        Value e = math::ExpOp::create(
                            b, l, arith::SubFOp::create(b, l, x, row[0]));
                        return arith::AddFOp::create(b, l, s, e);
                      });

    auto i64Const = [&](OpBuilder &b, Location l, int64_t v) {
      return arith::ConstantOp::create(b, l, b.getI64IntegerAttr(v))
          .getResult();
    };
    auto counted = [&](OpBuilder &b, Location l, Value label) {
      if (label.getType() != i64)
        label = arith::ExtSIOp::create(b, l, i64, label);
      return arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne, label,
                                   i64Const(b, l, ignoreIndex))
          .getResult();
    };
    auto scalarCount = RankedTensorType::get({}, i64);
    Value countInit =
        linalg::FillOp::create(rewriter, loc, i64Const(rewriter, loc, 0),
                               createEmpty(rewriter, loc, scalarCount, {}))
            .getResult(0);
    Value count =
        linalg::GenericOp::create(
            rewriter, loc, scalarCount, labels, countInit,
            {AffineMap::getMultiDimIdentityMap(rows, ctx),
             AffineMap::get(rows, 0, {}, ctx)},
            SmallVector<utils::IteratorType>(rows,
                                             utils::IteratorType::reduction),
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value inc = arith::ExtUIOp::create(b, l, i64,
                                                 counted(b, l, args[0]));
              linalg::YieldOp::create(
                  b, l, arith::AddIOp::create(b, l, args[1], inc).getResult());
            })
            .getResult(0);

    AffineMap rowMap = getLeadingDimsMap(ctx, rank, rows);
    AffineMap scalarMap = AffineMap::get(rank, 0, {}, ctx);
    Value init = createEmpty(rewriter, loc, type, getDims(rewriter, loc, logits));
    Value result =
        linalg::GenericOp::create(
            rewriter, loc, type,
            ValueRange{logits, labels, max, sumExp, op.getGradLoss(), count},
            init,
            {rewriter.getMultiDimIdentityMap(rank), rowMap, rowMap, rowMap,
             scalarMap, scalarMap, rewriter.getMultiDimIdentityMap(rank)},
            parallelIterators(rank),
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value x = convertFloat(b, l, args[0], acc);
              Value label = args[1];
              if (label.getType() != i64)
                label = arith::ExtSIOp::create(b, l, i64, label);
              Value cls = arith::IndexCastOp::create(
                  b, l, i64, linalg::IndexOp::create(b, l, rank - 1));
              Value p = arith::DivFOp::create(
                  b, l,
                  math::ExpOp::create(b, l,
                                      arith::SubFOp::create(b, l, x, args[2])),
                  args[3]);
              Value isLabel = arith::CmpIOp::create(
                  b, l, arith::CmpIPredicate::eq, cls, label);
              Value one = createFloatConstant(b, l, acc, 1.0);
              Value zero = createFloatConstant(b, l, acc, 0.0);
              Value diff = arith::SubFOp::create(
                  b, l, p, arith::SelectOp::create(b, l, isLabel, one, zero));
              // n >= 1 wherever a row is counted.
              Value n = arith::UIToFPOp::create(b, l, acc, args[5]);
              Value scaled = arith::MulFOp::create(
                  b, l, diff, arith::DivFOp::create(b, l, args[4], n));
              Value d = arith::SelectOp::create(b, l, counted(b, l, args[1]),
                                                scaled, zero);
              linalg::YieldOp::create(b, l, convertFloat(b, l, d, elem));
            })
            .getResult(0);
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// embedding_grad(ids (P...), dy (P..., H)) -> (V, H) =>
///   table = zeros
///   for p in rows (ids and dy flattened):
///     if 0 <= ids[p] < V: for h: table[ids[p], h] += dy[p, h]
///
/// A scatter-add: sequential loops on the tensor, updated in place after
/// bufferization.
struct LowerEmbeddingGrad : OpRewritePattern<EmbeddingGradOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(EmbeddingGradOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value ids = op.getIds(), dy = op.getGrad();
    auto idsType = cast<RankedTensorType>(ids.getType());
    auto resultType = cast<RankedTensorType>(op.getResult().getType());
    int64_t rank = idsType.getRank();
    Type elem = resultType.getElementType();
    // Flatten the rows: ids to (P), dy to (P, H).
    if (rank != 1) {
      ReassociationIndices all;
      for (int64_t d = 0; d < rank; ++d)
        all.push_back(d);
      ids = tensor::CollapseShapeOp::create(rewriter, loc, ids,
                                            ArrayRef<ReassociationIndices>{all});
      dy = tensor::CollapseShapeOp::create(
          rewriter, loc, dy, ArrayRef<ReassociationIndices>{all, {rank}});
    }
    Value table = createFilled(rewriter, loc, resultType,
                               {rewriter.getIndexAttr(resultType.getDimSize(0)),
                                getDim(rewriter, loc, dy, 1)},
                               0.0);
    Value zero = createIndexConstant(rewriter, loc, 0);
    Value one = createIndexConstant(rewriter, loc, 1);
    Value rows = getDimValue(rewriter, loc, ids, 0);
    Value features = getDimValue(rewriter, loc, dy, 1);
    Value vocab = createIndexConstant(rewriter, loc, resultType.getDimSize(0));
    auto outer = scf::ForOp::create(
        rewriter, loc, zero, rows, one, ValueRange{table},
        [&](OpBuilder &b, Location l, Value p, ValueRange iter) {
          Value id = arith::IndexCastOp::create(
              b, l, b.getIndexType(), tensor::ExtractOp::create(b, l, ids, p));
          Value ok = arith::AndIOp::create(
              b, l,
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge, id, zero),
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, id,
                                    vocab));
          auto ifOp = scf::IfOp::create(
              b, l, ok,
              [&](OpBuilder &tb, Location tl) {
                auto inner = scf::ForOp::create(
                    tb, tl, zero, features, one, ValueRange{iter[0]},
                    [&](OpBuilder &ib, Location il, Value h, ValueRange t) {
                      Value cur = tensor::ExtractOp::create(
                          ib, il, t[0], ValueRange{id, h});
                      Value add = tensor::ExtractOp::create(
                          ib, il, dy, ValueRange{p, h});
                      FloatType acc = getAccumulationType(elem);
                      Value sum = arith::AddFOp::create(
                          ib, il, convertFloat(ib, il, cur, acc),
                          convertFloat(ib, il, add, acc));
                      Value next = tensor::InsertOp::create(
                          ib, il, convertFloat(ib, il, sum, elem), t[0],
                          ValueRange{id, h});
                      scf::YieldOp::create(ib, il, next);
                    });
                scf::YieldOp::create(tb, tl, inner.getResult(0));
              },
              [&](OpBuilder &eb, Location el) {
                scf::YieldOp::create(eb, el, iter[0]);
              });
          scf::YieldOp::create(b, l, ifOp.getResult(0));
        });
    rewriter.replaceOp(op, outer.getResult(0));
    return success();
  }
};

} // namespace

void mlir::rotor::populateLayersToLinalgPatterns(RewritePatternSet &patterns,
                                                 bool vectorMatmul,
                                                 bool parallel) {
  patterns.add<LowerLinear, LowerFusedLinear, LowerFusedGateUp>(
      patterns.getContext(), vectorMatmul, parallel);
  patterns.add<LowerEmbedding, LowerConv1d, LowerSplitHeads, LowerMergeHeads,
               LowerSinusoidalEmbedding, LowerCrossEntropy,
               LowerLinearWeightGrad, LowerCrossEntropyGrad,
               LowerEmbeddingGrad, LowerCacheWrite>(
      patterns.getContext());
}
