//===- LowerRotations.cpp - Lower rope, givens and rotate -------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// rope: a (seq, rotary_dim/2) table of cos/sin is computed at run time, with
// the angle formed in f64 so that positions up to 10^6 keep their accuracy,
// then one linalg.generic rotates the pairs of every head.
//
// givens: the D x D matrix G_0 · G_1 · … is built at run time from the angle
// operand (each rotation updates two columns), then applied like rotate.
//
// rotate: a contraction of the last dimension with the matrix.
//
//===----------------------------------------------------------------------===//

#include "rotor/Conversion/LoweringUtils.h"
#include "rotor/Conversion/MatmulKernel.h"
#include "rotor/Conversion/RotorToLinalg.h"
#include "rotor/Dialect/Rotor/RotorOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>

using namespace mlir;
using namespace mlir::rotor;

namespace {

/// Builds f64 scalar arithmetic with less noise.
struct F64Builder {
  OpBuilder &b;
  Location loc;
  Type f64;
  F64Builder(OpBuilder &b, Location loc) : b(b), loc(loc), f64(b.getF64Type()) {}
  Value c(double v) { return createFloatConstant(b, loc, f64, v); }
  Value add(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value div(Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
  Value pow(Value x, Value y) { return math::PowFOp::create(b, loc, x, y); }
  Value log(Value x) { return math::LogOp::create(b, loc, x); }
  Value max(Value x, Value y) { return arith::MaximumFOp::create(b, loc, x, y); }
  Value min(Value x, Value y) { return arith::MinimumFOp::create(b, loc, x, y); }
  Value floor(Value x) { return math::FloorOp::create(b, loc, x); }
  Value ceil(Value x) { return math::CeilOp::create(b, loc, x); }
  Value lt(Value x, Value y) {
    return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, x, y);
  }
  Value gt(Value x, Value y) {
    return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, x, y);
  }
  Value eq(Value x, Value y) {
    return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, x, y);
  }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  Value fromIndex(Value i) {
    Value i64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), i);
    return arith::SIToFPOp::create(b, loc, f64, i64);
  }
  Value fromInt(Value i) { return arith::SIToFPOp::create(b, loc, f64, i); }
};

/// inv_freq[i] for pair `i` (an f64 value) of a rotary embedding with the
/// given base (f64 value), rotary dimension and scaling, following the
/// Hugging Face rope_scaling definitions.
Value buildInvFreq(F64Builder &f, Value i, Value base, int64_t rotaryDim,
                   RopeScalingAttr scaling) {
  double rd = static_cast<double>(rotaryDim);
  // base^(-2i / rd)
  Value exponent = f.div(f.mul(f.c(-2.0), i), f.c(rd));
  Value invFreq = f.pow(base, exponent);
  if (!scaling)
    return invFreq;
  double factor = scaling.getFactor().convertToDouble();
  double original = static_cast<double>(scaling.getOriginalMaxPosition());
  switch (scaling.getKind()) {
  case RopeScalingKind::none:
  case RopeScalingKind::dynamic_ntk: // adjusts the base instead
    return invFreq;
  case RopeScalingKind::linear:
    return f.div(invFreq, f.c(factor));
  case RopeScalingKind::yarn: {
    // NTK-by-parts: interpolate the low frequencies, keep the high ones.
    double betaFast = scaling.getBetaFast().convertToDouble();
    double betaSlow = scaling.getBetaSlow().convertToDouble();
    Value twoLogBase = f.mul(f.c(2.0), f.log(base));
    auto correctionDim = [&](double numRotations) {
      return f.div(f.c(rd * std::log(original / (numRotations * 2 * M_PI))),
                   twoLogBase);
    };
    Value low = f.max(f.floor(correctionDim(betaFast)), f.c(0.0));
    Value high = f.min(f.ceil(correctionDim(betaSlow)), f.c(rd - 1));
    high = f.select(f.eq(low, high), f.add(high, f.c(0.001)), high);
    Value ramp = f.div(f.sub(i, low), f.sub(high, low));
    ramp = f.min(f.max(ramp, f.c(0.0)), f.c(1.0));
    Value extrapolationFactor = f.sub(f.c(1.0), ramp);
    Value interpolation = f.div(invFreq, f.c(factor));
    return f.add(f.mul(interpolation, f.sub(f.c(1.0), extrapolationFactor)),
                 f.mul(invFreq, extrapolationFactor));
  }
  case RopeScalingKind::llama3: {
    double low = scaling.getLowFreqFactor().convertToDouble();
    double high = scaling.getHighFreqFactor().convertToDouble();
    Value wavelen = f.div(f.c(2 * M_PI), invFreq);
    Value lowFreqWavelen = f.c(original / low);
    Value highFreqWavelen = f.c(original / high);
    Value scaled = f.div(invFreq, f.c(factor));
    Value smooth = f.div(f.sub(f.div(f.c(original), wavelen), f.c(low)),
                         f.c(high - low));
    Value smoothed = f.add(f.mul(f.sub(f.c(1.0), smooth), scaled),
                           f.mul(smooth, invFreq));
    Value result =
        f.select(f.gt(wavelen, lowFreqWavelen), scaled, smoothed);
    return f.select(f.lt(wavelen, highFreqWavelen), invFreq, result);
  }
  }
  llvm_unreachable("unknown rope scaling kind");
}

/// The base of a rotary embedding as an f64 value, adjusted for dynamic NTK
/// scaling to the largest of `positions`.
Value buildRopeBase(OpBuilder &b, Location loc, Value positions,
                    const RopeParams &params) {
  F64Builder f(b, loc);
  Value base;
  if (Value learned = params.learnedBase)
    base = convertFloat(b, loc, tensor::ExtractOp::create(b, loc, learned),
                        f.f64);
  else
    base = f.c(params.base ? *params.base : 10000.0);
  RopeScalingAttr scaling = params.scaling;
  int64_t rotaryDim = params.rotaryDim;
  if (!scaling || scaling.getKind() != RopeScalingKind::dynamic_ntk)
    return base;

  // The base grows with the actual length L = max(position) + 1.
  auto posType = cast<RankedTensorType>(positions.getType());
  Type intType = posType.getElementType();
  auto scalarType = RankedTensorType::get({}, intType);
  Value init = tensor::EmptyOp::create(b, loc, scalarType, ValueRange{});
  init = linalg::FillOp::create(
             b, loc, arith::ConstantOp::create(b, loc, b.getIntegerAttr(intType, 0)).getResult(),
             init)
             .getResult(0);
  SmallVector<AffineMap> maps = {
      b.getMultiDimIdentityMap(posType.getRank()),
      AffineMap::get(posType.getRank(), 0, {}, b.getContext())};
  SmallVector<utils::IteratorType> iters(posType.getRank(),
                                         utils::IteratorType::reduction);
  Value maxPos =
      linalg::GenericOp::create(
          b, loc, scalarType, ValueRange{positions}, ValueRange{init}, maps,
          iters,
          [](OpBuilder &nb, Location nl, ValueRange args) {
            Value m = arith::MaxSIOp::create(nb, nl, args[0], args[1]);
            linalg::YieldOp::create(nb, nl, m);
          })
          .getResult(0);
  Value length = f.add(f.fromInt(tensor::ExtractOp::create(b, loc, maxPos)),
                       f.c(1.0));
  double factor = scaling.getFactor().convertToDouble();
  double original = static_cast<double>(scaling.getOriginalMaxPosition());
  double rd = static_cast<double>(rotaryDim);
  Value grown = f.mul(
      base, f.pow(f.sub(f.div(f.mul(f.c(factor), length), f.c(original)),
                        f.c(factor - 1.0)),
                  f.c(rd / (rd - 2.0))));
  return f.select(f.gt(length, f.c(original)), grown, base);
}

} // namespace

std::pair<Value, Value> mlir::rotor::buildRopeTables(OpBuilder &rewriter,
                                                     Location loc,
                                                     Value positions,
                                                     const RopeParams &params,
                                                     FloatType acc) {
  int64_t half = params.rotaryDim / 2;
  double attentionFactor =
      params.scaling ? params.scaling.getEffectiveAttentionFactor() : 1.0;
  auto posType = cast<RankedTensorType>(positions.getType());
  int64_t posRank = posType.getRank();
  SmallVector<int64_t> tableShape(posType.getShape());
  tableShape.push_back(half);
  SmallVector<OpFoldResult> tableSizes;
  for (int64_t d = 0; d < posRank; ++d)
    tableSizes.push_back(getDim(rewriter, loc, positions, d));
  tableSizes.push_back(rewriter.getIndexAttr(half));
  auto tableType = RankedTensorType::get(tableShape, acc);
  Value cosInit = createEmpty(rewriter, loc, tableType, tableSizes);
  Value sinInit = createEmpty(rewriter, loc, tableType, tableSizes);
  Value base = buildRopeBase(rewriter, loc, positions, params);
  MLIRContext *ctx = rewriter.getContext();
  SmallVector<AffineExpr> posExprs;
  for (int64_t d = 0; d < posRank; ++d)
    posExprs.push_back(getAffineDimExpr(d, ctx));
  SmallVector<AffineMap> tableMaps = {
      AffineMap::get(posRank + 1, 0, posExprs, ctx),
      rewriter.getMultiDimIdentityMap(posRank + 1),
      rewriter.getMultiDimIdentityMap(posRank + 1)};
  auto table = linalg::GenericOp::create(
      rewriter, loc, TypeRange{tableType, tableType}, ValueRange{positions},
      ValueRange{cosInit, sinInit}, tableMaps, parallelIterators(posRank + 1),
      [&](OpBuilder &b, Location l, ValueRange args) {
        F64Builder f(b, l);
        Value i = f.fromIndex(linalg::IndexOp::create(b, l, posRank));
        Value invFreq =
            buildInvFreq(f, i, base, params.rotaryDim, params.scaling);
        Value angle = f.mul(f.fromInt(args[0]), invFreq);
        Value c = math::CosOp::create(b, l, angle);
        Value s = math::SinOp::create(b, l, angle);
        // The transposed rotation turns by -angle.
        if (params.transpose)
          s = arith::NegFOp::create(b, l, s);
        if (attentionFactor != 1.0) {
          c = f.mul(c, f.c(attentionFactor));
          s = f.mul(s, f.c(attentionFactor));
        }
        linalg::YieldOp::create(
            b, l,
            ValueRange{convertFloat(b, l, c, acc), convertFloat(b, l, s, acc)});
      });
  return {table.getResult(0), table.getResult(1)};
}

namespace {

/// rope(x, positions) =>
///   (cos, sin) = generic over (seq, rotary_dim/2) of the positions
///   (x1', x2') = generic over (batch, heads, seq, rotary_dim/2)
///   result = insert x1', x2' (and the pass-through features) into empty
struct LowerRope : OpRewritePattern<RopeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(RopeOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto xType = cast<RankedTensorType>(x.getType());
    int64_t headDim = xType.getDimSize(3);
    int64_t rotaryDim = op.getEffectiveRotaryDim();
    if (ShapedType::isDynamic(rotaryDim))
      return rewriter.notifyMatchFailure(
          op, "rope lowering needs a static head_dim or rotary_dim");
    if (rotaryDim == 0) {
      rewriter.replaceOp(op, x);
      return success();
    }
    int64_t half = rotaryDim / 2;
    Type elem = xType.getElementType();
    FloatType acc = getAccumulationType(elem);
    bool interleaved = op.getLayout() == RopeLayout::interleaved;

    // The cos/sin table, one row per position (per batch row when the
    // positions are (batch, seq)).
    Value positions = op.getPositions();
    int64_t posRank = cast<RankedTensorType>(positions.getType()).getRank();
    RopeParams params{op.getLearnedBase(),
                      op.getBase() ? std::optional<double>(
                                         op.getBase()->convertToDouble())
                                   : std::nullopt,
                      rotaryDim, op.getScalingAttr(), op.getTranspose()};
    auto [cosTable, sinTable] =
        buildRopeTables(rewriter, loc, positions, params, acc);
    MLIRContext *ctx = rewriter.getContext();

    // The two halves of each pair, as strided or contiguous slices.
    SmallVector<OpFoldResult> sizes;
    for (int64_t d = 0; d < 3; ++d)
      sizes.push_back(getDim(rewriter, loc, x, d));
    sizes.push_back(rewriter.getIndexAttr(half));
    auto zero = rewriter.getIndexAttr(0), one = rewriter.getIndexAttr(1);
    auto offsetsAt = [&](int64_t last) {
      return SmallVector<OpFoldResult>{zero, zero, zero,
                                       rewriter.getIndexAttr(last)};
    };
    SmallVector<OpFoldResult> strides = {one, one, one,
                                         rewriter.getIndexAttr(interleaved ? 2 : 1)};
    int64_t secondOffset = interleaved ? 1 : half;
    SmallVector<int64_t> halfShape(xType.getShape());
    halfShape[3] = half;
    auto halfType = RankedTensorType::get(halfShape, elem);
    Value x1 = tensor::ExtractSliceOp::create(rewriter, loc, halfType, x,
                                              offsetsAt(0), sizes, strides);
    Value x2 = tensor::ExtractSliceOp::create(
        rewriter, loc, halfType, x, offsetsAt(secondOffset), sizes, strides);

    // (a, b) -> (a cos - b sin, b cos + a sin)
    SmallVector<AffineExpr> tableExprs;
    if (posRank == 2)
      tableExprs.push_back(getAffineDimExpr(0, ctx));
    tableExprs.push_back(getAffineDimExpr(2, ctx));
    tableExprs.push_back(getAffineDimExpr(3, ctx));
    AffineMap id4 = rewriter.getMultiDimIdentityMap(4);
    AffineMap tableMap = AffineMap::get(4, 0, tableExprs, ctx);
    Value out1 = createEmpty(rewriter, loc, halfType, sizes);
    Value out2 = createEmpty(rewriter, loc, halfType, sizes);
    auto rotated = linalg::GenericOp::create(
        rewriter, loc, TypeRange{halfType, halfType},
        ValueRange{x1, x2, cosTable, sinTable},
        ValueRange{out1, out2}, {id4, id4, tableMap, tableMap, id4, id4},
        parallelIterators(4),
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value a = convertFloat(b, l, args[0], acc);
          Value bb = convertFloat(b, l, args[1], acc);
          Value c = args[2], s = args[3];
          Value r1 = arith::SubFOp::create(
              b, l, arith::MulFOp::create(b, l, a, c),
              arith::MulFOp::create(b, l, bb, s));
          Value r2 = arith::AddFOp::create(
              b, l, arith::MulFOp::create(b, l, bb, c),
              arith::MulFOp::create(b, l, a, s));
          linalg::YieldOp::create(
              b, l, ValueRange{convertFloat(b, l, r1, elem),
                               convertFloat(b, l, r2, elem)});
        });

    // Assemble the result.
    SmallVector<OpFoldResult> fullSizes;
    for (int64_t d = 0; d < 4; ++d)
      fullSizes.push_back(getDim(rewriter, loc, x, d));
    Value result = createEmpty(rewriter, loc, xType, fullSizes);
    result = tensor::InsertSliceOp::create(rewriter, loc, rotated.getResult(0),
                                           result, offsetsAt(0), sizes, strides);
    result = tensor::InsertSliceOp::create(rewriter, loc, rotated.getResult(1),
                                           result, offsetsAt(secondOffset),
                                           sizes, strides);
    if (headDim != rotaryDim) {
      // Partial rotary: the remaining features pass through.
      SmallVector<OpFoldResult> restSizes(fullSizes);
      restSizes[3] = ShapedType::isDynamic(headDim)
                         ? OpFoldResult(arith::SubIOp::create(
                               rewriter, loc, getDimValue(rewriter, loc, x, 3),
                               createIndexConstant(rewriter, loc, rotaryDim))
                                            .getResult())
                         : OpFoldResult(rewriter.getIndexAttr(headDim - rotaryDim));
      SmallVector<OpFoldResult> unit = {one, one, one, one};
      Value rest = tensor::ExtractSliceOp::create(
          rewriter, loc, x, offsetsAt(rotaryDim), restSizes, unit);
      result = tensor::InsertSliceOp::create(rewriter, loc, rest, result,
                                             offsetsAt(rotaryDim), restSizes,
                                             unit);
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// rope_base_grad(x, dy, positions, base) =>
///   (cos, sin, coef) = generic over (positions..., rotary_dim/2) {
///       t = p inv_freq[i];  coef = p · (-2i / rotary_dim) · inv_freq[i] / base }
///   sum = generic over (batch, heads, seq, rotary_dim/2), all reduction {
///       (y_a, y_b) = rotation of the pair (a, b) of x
///       sum += (dy_b y_a - dy_a y_b) · coef }
///
/// inv_freq[i] = (base k)^(-2i/rd) / factor, with k the dynamic NTK growth
/// (1 otherwise) and factor the linear scaling (1 otherwise): its derivative
/// in base is -(2i/rd) inv_freq[i] / base in every case.
struct LowerRopeBaseGrad : OpRewritePattern<RopeBaseGradOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(RopeBaseGradOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput(), dy = op.getGrad();
    auto xType = cast<RankedTensorType>(x.getType());
    int64_t rotaryDim = op.getEffectiveRotaryDim();
    int64_t half = rotaryDim / 2;
    FloatType acc = getAccumulationType(xType.getElementType());
    auto resultType = cast<RankedTensorType>(op.getResult().getType());
    MLIRContext *ctx = rewriter.getContext();
    RopeScalingAttr scaling = op.getScalingAttr();
    double attentionFactor =
        scaling ? scaling.getEffectiveAttentionFactor() : 1.0;
    bool interleaved = op.getLayout() == RopeLayout::interleaved;

    F64Builder f0(rewriter, loc);
    Value rawBase = convertFloat(
        rewriter, loc, tensor::ExtractOp::create(rewriter, loc, op.getBase()),
        f0.f64);
    Value positions = op.getPositions();
    Value base = buildRopeBase(
        rewriter, loc, positions,
        RopeParams{op.getBase(), std::nullopt, rotaryDim, scaling});

    auto posType = cast<RankedTensorType>(positions.getType());
    int64_t posRank = posType.getRank();
    SmallVector<int64_t> tableShape(posType.getShape());
    tableShape.push_back(half);
    SmallVector<OpFoldResult> tableSizes;
    for (int64_t d = 0; d < posRank; ++d)
      tableSizes.push_back(getDim(rewriter, loc, positions, d));
    tableSizes.push_back(rewriter.getIndexAttr(half));
    auto tableType = RankedTensorType::get(tableShape, acc);
    SmallVector<Value> tableInits;
    for (int k = 0; k < 3; ++k)
      tableInits.push_back(createEmpty(rewriter, loc, tableType, tableSizes));
    SmallVector<AffineExpr> posExprs;
    for (int64_t d = 0; d < posRank; ++d)
      posExprs.push_back(getAffineDimExpr(d, ctx));
    AffineMap tableId = rewriter.getMultiDimIdentityMap(posRank + 1);
    auto table = linalg::GenericOp::create(
        rewriter, loc, TypeRange{tableType, tableType, tableType},
        ValueRange{positions}, tableInits,
        {AffineMap::get(posRank + 1, 0, posExprs, ctx), tableId, tableId,
         tableId},
        parallelIterators(posRank + 1),
        [&](OpBuilder &b, Location l, ValueRange args) {
          F64Builder f(b, l);
          Value i = f.fromIndex(linalg::IndexOp::create(b, l, posRank));
          Value invFreq = buildInvFreq(f, i, base, rotaryDim, scaling);
          Value p = f.fromInt(args[0]);
          Value angle = f.mul(p, invFreq);
          Value c = f.mul(math::CosOp::create(b, l, angle),
                          f.c(attentionFactor));
          Value s = f.mul(math::SinOp::create(b, l, angle),
                          f.c(attentionFactor));
          Value dInvFreq = f.div(
              f.mul(f.div(f.mul(f.c(-2.0), i), f.c(double(rotaryDim))),
                    invFreq),
              rawBase);
          Value coef = f.mul(p, dInvFreq);
          linalg::YieldOp::create(
              b, l,
              ValueRange{convertFloat(b, l, c, acc), convertFloat(b, l, s, acc),
                         convertFloat(b, l, coef, acc)});
        });

    // The two halves of each pair of x and dy.
    SmallVector<OpFoldResult> sizes;
    for (int64_t d = 0; d < 3; ++d)
      sizes.push_back(getDim(rewriter, loc, x, d));
    sizes.push_back(rewriter.getIndexAttr(half));
    auto zero = rewriter.getIndexAttr(0), one = rewriter.getIndexAttr(1);
    SmallVector<OpFoldResult> strides = {
        one, one, one, rewriter.getIndexAttr(interleaved ? 2 : 1)};
    int64_t secondOffset = interleaved ? 1 : half;
    SmallVector<int64_t> halfShape(xType.getShape());
    halfShape[3] = half;
    auto halfType = RankedTensorType::get(halfShape, xType.getElementType());
    auto slice = [&](Value v, int64_t offset) {
      return tensor::ExtractSliceOp::create(
                 rewriter, loc, halfType, v,
                 SmallVector<OpFoldResult>{zero, zero, zero,
                                           rewriter.getIndexAttr(offset)},
                 sizes, strides)
          .getResult();
    };
    SmallVector<Value> inputs = {slice(x, 0), slice(x, secondOffset),
                                 slice(dy, 0), slice(dy, secondOffset),
                                 table.getResult(0), table.getResult(1),
                                 table.getResult(2)};
    SmallVector<AffineExpr> tableExprs;
    if (posRank == 2)
      tableExprs.push_back(getAffineDimExpr(0, ctx));
    tableExprs.push_back(getAffineDimExpr(2, ctx));
    tableExprs.push_back(getAffineDimExpr(3, ctx));
    AffineMap id4 = rewriter.getMultiDimIdentityMap(4);
    AffineMap tableMap = AffineMap::get(4, 0, tableExprs, ctx);
    auto scalarAcc = RankedTensorType::get({}, acc);
    Value init = linalg::FillOp::create(
                     rewriter, loc, createFloatConstant(rewriter, loc, acc, 0.0),
                     createEmpty(rewriter, loc, scalarAcc, {}))
                     .getResult(0);
    Value sum =
        linalg::GenericOp::create(
            rewriter, loc, scalarAcc, inputs, init,
            {id4, id4, id4, id4, tableMap, tableMap, tableMap,
             AffineMap::get(4, 0, {}, ctx)},
            SmallVector<utils::IteratorType>(4, utils::IteratorType::reduction),
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value a = convertFloat(b, l, args[0], acc);
              Value bb = convertFloat(b, l, args[1], acc);
              Value ga = convertFloat(b, l, args[2], acc);
              Value gb = convertFloat(b, l, args[3], acc);
              Value c = args[4], sn = args[5], coef = args[6];
              auto mul = [&](Value u, Value v) {
                return arith::MulFOp::create(b, l, u, v).getResult();
              };
              Value ya = arith::SubFOp::create(b, l, mul(a, c), mul(bb, sn));
              Value yb = arith::AddFOp::create(b, l, mul(bb, c), mul(a, sn));
              Value dt = arith::SubFOp::create(b, l, mul(gb, ya), mul(ga, yb));
              linalg::YieldOp::create(
                  b, l,
                  arith::AddFOp::create(b, l, args[7], mul(dt, coef))
                      .getResult());
            })
            .getResult(0);
    if (resultType.getElementType() != acc) {
      AffineMap empty0 = AffineMap::get(0, 0, {}, ctx);
      sum = linalg::GenericOp::create(
                rewriter, loc, resultType, sum,
                createEmpty(rewriter, loc, resultType, {}), {empty0, empty0},
                ArrayRef<utils::IteratorType>{},
                [&](OpBuilder &b, Location l, ValueRange args) {
                  linalg::YieldOp::create(
                      b, l,
                      convertFloat(b, l, args[0], resultType.getElementType()));
                })
                .getResult(0);
    }
    rewriter.replaceOp(op, sum);
    return success();
  }
};

/// y = x · m over the last dimension of x, accumulated in `acc` and stored
/// as `resultType`.
Value contractLastDim(OpBuilder &b, Location loc, Value x, Value m,
                      RankedTensorType resultType) {
  auto xType = cast<RankedTensorType>(x.getType());
  int64_t rank = xType.getRank();
  Type elem = resultType.getElementType();
  FloatType acc = getAccumulationType(elem);
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < rank - 1; ++d)
    sizes.push_back(getDim(b, loc, x, d));
  sizes.push_back(getDim(b, loc, m, 1));
  auto accType = RankedTensorType::get(resultType.getShape(), acc);
  Value init = createEmpty(b, loc, accType, sizes);
  init = linalg::FillOp::create(b, loc, createFloatConstant(b, loc, acc, 0.0),
                                init)
             .getResult(0);
  // Loops (d0 .. d{rank-1}, k): x[..., k] * m[k, d{rank-1}].
  MLIRContext *ctx = b.getContext();
  SmallVector<AffineExpr> xExprs, outExprs;
  for (int64_t d = 0; d < rank - 1; ++d) {
    xExprs.push_back(getAffineDimExpr(d, ctx));
    outExprs.push_back(getAffineDimExpr(d, ctx));
  }
  AffineExpr k = getAffineDimExpr(rank, ctx);
  AffineExpr n = getAffineDimExpr(rank - 1, ctx);
  xExprs.push_back(k);
  outExprs.push_back(n);
  SmallVector<AffineMap> maps = {AffineMap::get(rank + 1, 0, xExprs, ctx),
                                 AffineMap::get(rank + 1, 0, {k, n}, ctx),
                                 AffineMap::get(rank + 1, 0, outExprs, ctx)};
  SmallVector<utils::IteratorType> iters = parallelIterators(rank);
  iters.push_back(utils::IteratorType::reduction);
  Value product =
      linalg::GenericOp::create(
          b, loc, accType, ValueRange{x, m}, ValueRange{init}, maps, iters,
          [&](OpBuilder &nb, Location l, ValueRange args) {
            Value p = arith::MulFOp::create(nb, l,
                                            convertFloat(nb, l, args[0], acc),
                                            convertFloat(nb, l, args[1], acc));
            linalg::YieldOp::create(
                nb, l, ValueRange{arith::AddFOp::create(nb, l, args[2], p)});
          })
          .getResult(0);
  if (acc == elem)
    return product;
  Value out = createEmpty(b, loc, resultType, sizes);
  AffineMap id = b.getMultiDimIdentityMap(rank);
  return linalg::GenericOp::create(
             b, loc, resultType, ValueRange{product}, ValueRange{out},
             {id, id}, parallelIterators(rank),
             [&](OpBuilder &nb, Location l, ValueRange args) {
               linalg::YieldOp::create(
                   nb, l, ValueRange{convertFloat(nb, l, args[0], elem)});
             })
      .getResult(0);
}

/// y = x · m: the vectorized kernel when enabled and m is static, else a
/// generic contraction.
Value multiply(OpBuilder &b, Location loc, Value x, Value m,
               RankedTensorType resultType, bool vectorMatmul, bool parallel) {
  if (vectorMatmul)
    if (auto y = buildVectorMatmul(b, loc, x, m, Value(), WeightLayout::KN,
                                   resultType, parallel);
        succeeded(y))
      return *y;
  return contractLastDim(b, loc, x, m, resultType);
}

/// rotate(x, r) => x · r (vectorized matmul, or generic contraction
/// x[..., k] * r[k, n])
struct LowerRotate : OpRewritePattern<RotateOp> {
  LowerRotate(MLIRContext *ctx, bool vectorMatmul, bool parallel)
      : OpRewritePattern(ctx), vectorMatmul(vectorMatmul), parallel(parallel) {}
  bool vectorMatmul, parallel;
  LogicalResult matchAndRewrite(RotateOp op,
                                PatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, multiply(rewriter, op.getLoc(), op.getInput(),
                                    op.getRotation(), op.getType(),
                                    vectorMatmul, parallel));
    return success();
  }
};

/// Column `col` of the D x D matrix `m`, as a (D) tensor.
Value extractColumn(OpBuilder &b, Location loc, Value m, int64_t col) {
  auto type = cast<RankedTensorType>(m.getType());
  int64_t dim = type.getDimSize(0);
  auto colMapType = RankedTensorType::get({dim, 1}, type.getElementType());
  auto colType = RankedTensorType::get({dim}, type.getElementType());
  Value slice = tensor::ExtractSliceOp::create(
      b, loc, colMapType, m,
      ArrayRef<OpFoldResult>{b.getIndexAttr(0), b.getIndexAttr(col)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(dim), b.getIndexAttr(1)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
  return tensor::CollapseShapeOp::create(b, loc, colType, slice,
                                         ArrayRef<ReassociationIndices>{{0, 1}});
}

/// `m` with column `col` replaced by the (D) tensor `v`.
Value insertColumn(OpBuilder &b, Location loc, Value m, Value v, int64_t col) {
  auto type = cast<RankedTensorType>(m.getType());
  int64_t dim = type.getDimSize(0);
  auto colMapType = RankedTensorType::get({dim, 1}, type.getElementType());
  Value expanded = tensor::ExpandShapeOp::create(
      b, loc, colMapType, v, ArrayRef<ReassociationIndices>{{0, 1}});
  return tensor::InsertSliceOp::create(
      b, loc, expanded, m,
      ArrayRef<OpFoldResult>{b.getIndexAttr(0), b.getIndexAttr(col)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(dim), b.getIndexAttr(1)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
}

/// M · G for the rotation G of the plane (i, j) with cosine c and sine s
/// (scalars of M's element type): only columns i and j change,
///   M'[:, i] = c M[:, i] - s M[:, j],  M'[:, j] = s M[:, i] + c M[:, j]
Value rotateColumns(OpBuilder &b, Location loc, Value m, int64_t i, int64_t j,
                    Value c, Value s) {
  Value ci = extractColumn(b, loc, m, i), cj = extractColumn(b, loc, m, j);
  auto colType = cast<RankedTensorType>(ci.getType());
  AffineMap id1 = b.getMultiDimIdentityMap(1);
  Value e1 = tensor::EmptyOp::create(b, loc, colType, ValueRange{});
  Value e2 = tensor::EmptyOp::create(b, loc, colType, ValueRange{});
  auto updated = linalg::GenericOp::create(
      b, loc, TypeRange{colType, colType}, ValueRange{ci, cj},
      ValueRange{e1, e2}, {id1, id1, id1, id1}, parallelIterators(1),
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value a = args[0], bb = args[1];
        Value ni = arith::SubFOp::create(nb, l, arith::MulFOp::create(nb, l, a, c),
                                         arith::MulFOp::create(nb, l, bb, s));
        Value nj = arith::AddFOp::create(nb, l, arith::MulFOp::create(nb, l, a, s),
                                         arith::MulFOp::create(nb, l, bb, c));
        linalg::YieldOp::create(nb, l, ValueRange{ni, nj});
      });
  m = insertColumn(b, loc, m, updated.getResult(0), i);
  return insertColumn(b, loc, m, updated.getResult(1), j);
}

/// (cos, sin) of angles[k] in `acc`.
std::pair<Value, Value> angleCosSin(OpBuilder &b, Location loc, Value angles,
                                    int64_t k, FloatType acc) {
  Value angle = tensor::ExtractOp::create(
      b, loc, angles, ValueRange{createIndexConstant(b, loc, k)});
  angle = convertFloat(b, loc, angle, acc);
  return {math::CosOp::create(b, loc, angle), math::SinOp::create(b, loc, angle)};
}

/// The D x D matrix G_0 · G_1 · … · G_{N-1} of a Givens chain, in `acc`,
/// built at run time from the angles (each rotation updates two columns).
Value buildGivensMatrix(OpBuilder &b, Location loc, Value angles,
                        ArrayRef<int64_t> pairs, int64_t dim, FloatType acc) {
  auto matType = RankedTensorType::get({dim, dim}, acc);
  AffineMap id2 = b.getMultiDimIdentityMap(2);
  Value m = tensor::EmptyOp::create(b, loc, matType, ValueRange{});
  m = linalg::GenericOp::create(
          b, loc, matType, ValueRange{}, ValueRange{m}, {id2},
          parallelIterators(2),
          [&](OpBuilder &nb, Location l, ValueRange) {
            Value eq = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq,
                                             linalg::IndexOp::create(nb, l, 0),
                                             linalg::IndexOp::create(nb, l, 1));
            linalg::YieldOp::create(
                nb, l,
                ValueRange{arith::SelectOp::create(
                    nb, l, eq, createFloatConstant(nb, l, acc, 1.0),
                    createFloatConstant(nb, l, acc, 0.0))});
          })
          .getResult(0);
  for (int64_t k = 0; k < static_cast<int64_t>(pairs.size()) / 2; ++k) {
    auto [c, s] = angleCosSin(b, loc, angles, k, acc);
    m = rotateColumns(b, loc, m, pairs[2 * k], pairs[2 * k + 1], c, s);
  }
  return m;
}

/// givens(x, angles, pairs) =>
///   m = identity; for each rotation k: update columns (i_k, j_k) of m
///   rotate(x, m)
struct LowerGivens : OpRewritePattern<GivensOp> {
  LowerGivens(MLIRContext *ctx, bool vectorMatmul, bool parallel)
      : OpRewritePattern(ctx), vectorMatmul(vectorMatmul), parallel(parallel) {}
  bool vectorMatmul, parallel;
  LogicalResult matchAndRewrite(GivensOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto xType = op.getInput().getType();
    int64_t dim = xType.getDimSize(xType.getRank() - 1);
    if (ShapedType::isDynamic(dim))
      return rewriter.notifyMatchFailure(
          op, "givens lowering needs a static last dimension");
    FloatType acc = getAccumulationType(xType.getElementType());
    Value m = buildGivensMatrix(rewriter, loc, op.getAngles(), op.getPairs(),
                                dim, acc);
    rewriter.replaceOp(
        op, multiply(rewriter, loc, op.getInput(), m, xType, vectorMatmul,
                     parallel));
    return success();
  }
};

/// givens_grad(x, dy, angles, pairs) => with M = G_0 ⋯ G_{N-1} (D x D):
///   dx = dy · Mᵀ
///   A  = Σ_rows xᵀ dy                        (D x D: ∂L/∂M)
///   Z = M, G = A;  for k = N-1 … 0:
///     dθ_k = Σ_r (G[r, j] Z[r, i] - G[r, i] Z[r, j])
///     Z = Z · G_kᵀ,  G = G · G_kᵀ             (columns i, j, angle -θ_k)
///
/// L depends on M only through <A, M>, which is the loss of the D rows
/// e_r (inputs) with cotangents A[r, :]: the per-row rule of the op (the
/// rows after rotation k are the rows of G_0 ⋯ G_k, their cotangents
/// A (G_{k+1} ⋯ G_{N-1})ᵀ) runs on D rows instead of every row of x.
struct LowerGivensGrad : OpRewritePattern<GivensGradOp> {
  LowerGivensGrad(MLIRContext *ctx, bool vectorMatmul, bool parallel)
      : OpRewritePattern(ctx), vectorMatmul(vectorMatmul), parallel(parallel) {}
  bool vectorMatmul, parallel;
  LogicalResult matchAndRewrite(GivensGradOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto xType = op.getInput().getType();
    int64_t dim = xType.getDimSize(xType.getRank() - 1);
    if (ShapedType::isDynamic(dim))
      return rewriter.notifyMatchFailure(
          op, "givens_grad lowering needs a static last dimension");
    FloatType acc = getAccumulationType(xType.getElementType());
    ArrayRef<int64_t> pairs = op.getPairs();
    Value m = buildGivensMatrix(rewriter, loc, op.getAngles(), pairs, dim,
                                acc);
    auto matType = cast<RankedTensorType>(m.getType());
    Value mt = linalg::TransposeOp::create(
                   rewriter, loc, m,
                   tensor::EmptyOp::create(rewriter, loc, matType, ValueRange{}),
                   ArrayRef<int64_t>{1, 0})
                   .getResult()[0];
    Value dx = multiply(rewriter, loc, op.getGrad(), mt, xType, vectorMatmul,
                        parallel);

    Value z = m;
    Value g = sumOuterProducts(rewriter, loc, op.getInput(), op.getGrad(), acc);
    int64_t n = op.getNumRotations();
    auto anglesType = cast<RankedTensorType>(op.getAngles().getType());
    Type angleElem = anglesType.getElementType();
    auto scalarType = RankedTensorType::get({}, acc);
    AffineMap id1 = rewriter.getMultiDimIdentityMap(1);
    AffineMap toScalar = AffineMap::get(1, 0, {}, rewriter.getContext());
    SmallVector<Value> grads(n);
    for (int64_t k = n - 1; k >= 0; --k) {
      int64_t i = pairs[2 * k], j = pairs[2 * k + 1];
      Value init = linalg::FillOp::create(
                       rewriter, loc, createFloatConstant(rewriter, loc, acc, 0.0),
                       tensor::EmptyOp::create(rewriter, loc, scalarType,
                                               ValueRange{})
                           .getResult())
                       .getResult(0);
      Value sum =
          linalg::GenericOp::create(
              rewriter, loc, scalarType,
              ValueRange{extractColumn(rewriter, loc, z, i),
                         extractColumn(rewriter, loc, z, j),
                         extractColumn(rewriter, loc, g, i),
                         extractColumn(rewriter, loc, g, j)},
              init, {id1, id1, id1, id1, toScalar},
              {utils::IteratorType::reduction},
              [&](OpBuilder &nb, Location l, ValueRange args) {
                Value t = arith::SubFOp::create(
                    nb, l, arith::MulFOp::create(nb, l, args[3], args[0]),
                    arith::MulFOp::create(nb, l, args[2], args[1]));
                linalg::YieldOp::create(
                    nb, l, ValueRange{arith::AddFOp::create(nb, l, args[4], t)});
              })
              .getResult(0);
      grads[k] = convertFloat(
          rewriter, loc,
          tensor::ExtractOp::create(rewriter, loc, sum, ValueRange{}),
          angleElem);
      if (k == 0)
        break;
      auto [c, s] = angleCosSin(rewriter, loc, op.getAngles(), k, acc);
      Value negS = arith::NegFOp::create(rewriter, loc, s);
      z = rotateColumns(rewriter, loc, z, i, j, c, negS);
      g = rotateColumns(rewriter, loc, g, i, j, c, negS);
    }
    auto gradsType = RankedTensorType::get({n}, angleElem);
    Value dAngles =
        n == 0 ? tensor::EmptyOp::create(rewriter, loc, gradsType, ValueRange{})
                     .getResult()
               : tensor::FromElementsOp::create(rewriter, loc, gradsType, grads)
                     .getResult();
    if (dAngles.getType() != anglesType)
      dAngles = tensor::CastOp::create(rewriter, loc, anglesType, dAngles);
    rewriter.replaceOp(op, {dx, dAngles});
    return success();
  }
};

} // namespace

void mlir::rotor::populateRotationsToLinalgPatterns(RewritePatternSet &patterns,
                                                    bool vectorMatmul,
                                                    bool parallel) {
  patterns.add<LowerRope, LowerRopeBaseGrad>(patterns.getContext());
  patterns.add<LowerGivens, LowerGivensGrad, LowerRotate>(
      patterns.getContext(), vectorMatmul, parallel);
}
