//===- ConvertAlibiToLinalg.cpp - Lower alibi.attention to linalg ----------===//
//
// Part of the Rotor project: the out-of-tree extension example.
//
//===----------------------------------------------------------------------===//
//
// alibi.attention becomes linalg.generic ops on tensors (see Passes.td for
// the formulas). Loop dimensions: b (batch), h (query head), i (query),
// j (key), and d (head_dim) or e (value head_dim). Key and value tensors are
// indexed by the kv head h floordiv (Hq / Hkv), which an affine map
// expresses directly. The mask predicate comes from Rotor's lowering
// helpers (rotor::buildMaskPredicate), so #rotor.mask means the same here as
// in rotor.attention.
//
//===----------------------------------------------------------------------===//

#include "alibi/AlibiOps.h"
#include "alibi/Passes.h"

#include "rotor/Conversion/LoweringUtils.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/Transforms/DialectConversion.h"

#include <limits>

namespace mlir::alibi {
#define GEN_PASS_DEF_CONVERTALIBITOLINALG
#include "alibi/Passes.h.inc"
} // namespace mlir::alibi

using namespace mlir;
using namespace mlir::alibi;

namespace {

using utils::IteratorType;

/// Emits one linalg.generic; `body` gets the block arguments and yields.
Value generic(OpBuilder &b, Location loc, ValueRange inputs, Value init,
              ArrayRef<AffineMap> maps, ArrayRef<IteratorType> iterators,
              function_ref<Value(OpBuilder &, Location, ValueRange)> body) {
  auto op = linalg::GenericOp::create(
      b, loc, init.getType(), inputs, init, maps, iterators,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        linalg::YieldOp::create(nb, nl, body(nb, nl, args));
      });
  return op.getResult(0);
}

/// A tensor.empty of `sizes` (static or index values).
Value empty(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
            Type elem) {
  SmallVector<int64_t> shape;
  for (OpFoldResult s : sizes) {
    auto attr = dyn_cast<Attribute>(s);
    shape.push_back(attr ? cast<IntegerAttr>(attr).getInt()
                         : ShapedType::kDynamic);
  }
  return rotor::createEmpty(b, loc, RankedTensorType::get(shape, elem), sizes);
}

/// A tensor of `sizes` filled with `value` (the init of a reduction).
Value filled(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
             Type elem, double value) {
  Value c = rotor::createFloatConstant(b, loc, elem, value);
  return linalg::FillOp::create(b, loc, c, empty(b, loc, sizes, elem))
      .getResult(0);
}

struct LowerAlibiAttention : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
    auto qType = op.getQuery().getType();
    Type elem = qType.getElementType();
    FloatType acc = rotor::getAccumulationType(elem);
    int64_t hq = qType.getDimSize(1);
    int64_t group = hq / op.getKey().getType().getDimSize(1);
    double scale = op.getEffectiveScale();
    rotor::MaskAttr mask = op.getEffectiveMask();
    MLIRContext *ctx = b.getContext();

    OpFoldResult B = rotor::getDim(b, loc, q, 0), H = b.getIndexAttr(hq),
                 Sq = rotor::getDim(b, loc, q, 2),
                 Sk = rotor::getDim(b, loc, k, 2),
                 Dv = rotor::getDim(b, loc, v, 3);
    // Query i sits at position i + (Sk - Sq).
    Value offset =
        arith::SubIOp::create(b, loc, getValueOrCreateConstantIndexOp(b, loc, Sk),
                              getValueOrCreateConstantIndexOp(b, loc, Sq));
    Value negInf =
        rotor::createFloatConstant(b, loc, acc, -std::numeric_limits<double>::infinity());
    SmallVector<Attribute> slopeAttrs;
    for (double s : op.getEffectiveSlopes())
      slopeAttrs.push_back(FloatAttr::get(acc, s));
    auto slopesType = RankedTensorType::get({hq}, acc);
    Value slopes = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(slopesType, slopeAttrs));

    AffineExpr d0, d1, d2, d3, d4;
    bindDims(ctx, d0, d1, d2, d3, d4);
    AffineExpr kvHead = d1.floorDiv(group);
    auto map = [&](unsigned dims, ArrayRef<AffineExpr> results) {
      return AffineMap::get(dims, 0, results, ctx);
    };
    auto par = IteratorType::parallel, red = IteratorType::reduction;
    auto ext = [&](OpBuilder &nb, Location nl, Value x) {
      return rotor::convertFloat(nb, nl, x, acc);
    };

    // S[b, h, i, j] = Σ_d q[b, h, i, d] · k[b, h / g, j, d]
    Value scores = generic(
        b, loc, {q, k}, filled(b, loc, {B, H, Sq, Sk}, acc, 0.0),
        {map(5, {d0, d1, d2, d4}), map(5, {d0, kvHead, d3, d4}),
         map(5, {d0, d1, d2, d3})},
        {par, par, par, par, red},
        [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          Value prod = arith::MulFOp::create(nb, nl, ext(nb, nl, a[0]),
                                             ext(nb, nl, a[1]));
          return arith::AddFOp::create(nb, nl, a[2], prod);
        });

    // S = visible(p, j) ? scale · S - slope[h] · |p - j| : -inf
    AffineMap id4 = map(4, {d0, d1, d2, d3}), row = map(4, {d0, d1, d2});
    scores = generic(
        b, loc, {scores, slopes}, empty(b, loc, {B, H, Sq, Sk}, acc),
        {id4, map(4, {d1}), id4}, {par, par, par, par},
        [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          Value i = linalg::IndexOp::create(nb, nl, 2);
          Value j = linalg::IndexOp::create(nb, nl, 3);
          Value p = arith::AddIOp::create(nb, nl, i, offset);
          Value visible = rotor::buildMaskPredicate(nb, nl, mask, p, j);
          Value dist = math::AbsIOp::create(
              nb, nl, arith::IndexCastOp::create(
                          nb, nl, nb.getI64Type(),
                          arith::SubIOp::create(nb, nl, p, j)));
          Value distF = arith::SIToFPOp::create(nb, nl, acc, dist);
          Value s = arith::MulFOp::create(
              nb, nl, a[0], rotor::createFloatConstant(nb, nl, acc, scale));
          s = arith::SubFOp::create(nb, nl, s,
                                    arith::MulFOp::create(nb, nl, a[1], distF));
          return arith::SelectOp::create(nb, nl, visible, s, negInf);
        });

    // m = max_j S, replaced by 0 for rows without a visible key.
    Value rowMax = generic(
        b, loc, {scores},
        filled(b, loc, {B, H, Sq}, acc, -std::numeric_limits<double>::infinity()),
        {id4, row}, {par, par, par, red},
        [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          return arith::MaximumFOp::create(nb, nl, a[0], a[1]);
        });
    rowMax = generic(
        b, loc, {rowMax}, empty(b, loc, {B, H, Sq}, acc),
        {map(3, {d0, d1, d2}), map(3, {d0, d1, d2})}, {par, par, par},
        [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          Value none = arith::CmpFOp::create(nb, nl, arith::CmpFPredicate::OEQ,
                                             a[0], negInf);
          return arith::SelectOp::create(
              nb, nl, none, rotor::createFloatConstant(nb, nl, acc, 0.0), a[0]);
        });

    // P = exp(S - m) (0 where masked), l = Σ_j P
    Value probs = generic(
        b, loc, {scores, rowMax}, empty(b, loc, {B, H, Sq, Sk}, acc),
        {id4, row, id4}, {par, par, par, par},
        [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          return math::ExpOp::create(nb, nl,
                                     arith::SubFOp::create(nb, nl, a[0], a[1]));
        });
    Value rowSum = generic(
        b, loc, {probs}, filled(b, loc, {B, H, Sq}, acc, 0.0), {id4, row},
        {par, par, par, red},
        [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          return arith::AddFOp::create(nb, nl, a[0], a[1]);
        });

    // O[b, h, i, e] = Σ_j P[b, h, i, j] · v[b, h / g, j, e]
    Value out = generic(
        b, loc, {probs, v}, filled(b, loc, {B, H, Sq, Dv}, acc, 0.0),
        {map(5, {d0, d1, d2, d4}), map(5, {d0, kvHead, d4, d3}),
         map(5, {d0, d1, d2, d3})},
        {par, par, par, par, red},
        [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          Value prod =
              arith::MulFOp::create(nb, nl, a[0], ext(nb, nl, a[1]));
          return arith::AddFOp::create(nb, nl, a[2], prod);
        });

    // out = l > 0 ? O / l : 0, in the element type.
    auto outType = op.getOutput().getType();
    Value result = generic(
        b, loc, {out, rowSum},
        empty(b, loc, {B, H, Sq, Dv}, outType.getElementType()),
        {id4, row, id4}, {par, par, par, par},
        [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          Value zero = rotor::createFloatConstant(nb, nl, acc, 0.0);
          Value any = arith::CmpFOp::create(nb, nl, arith::CmpFPredicate::OGT,
                                            a[1], zero);
          Value o = arith::SelectOp::create(
              nb, nl, any, arith::DivFOp::create(nb, nl, a[0], a[1]), zero);
          return rotor::convertFloat(nb, nl, o, elem);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct ConvertAlibiToLinalg
    : alibi::impl::ConvertAlibiToLinalgBase<ConvertAlibiToLinalg> {
  void runOnOperation() override {
    ConversionTarget target(getContext());
    target.addIllegalDialect<AlibiDialect>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(&getContext());
    patterns.add<LowerAlibiAttention>(&getContext());
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
