//===- ConvertAlibiToLinalg.cpp - Lower alibi.attention to linalg ----------===//
//
// Part of the Rotor project: the out-of-tree extension example.
//
//===----------------------------------------------------------------------===//
//
// alibi.attention and alibi.attention_grad become linalg.generic ops on
// tensors (see Passes.td for the formulas). Loop dimensions: b (batch),
// h (query head), i (query), j (key), and d (head_dim) or e (value
// head_dim). Key and value tensors are indexed by the kv head
// h floordiv (Hq / Hkv), which an affine map expresses directly; the key and
// value cotangents sum over each group of query heads after an
// expand_shape (B, Hq, ...) -> (B, Hkv, Hq / Hkv, ...). The mask predicate comes from Rotor's lowering
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

/// What the lowerings of alibi.attention and alibi.attention_grad share:
/// the sizes, affine maps and the recomputation of the probabilities.
template <typename OpT> struct AttentionLowering {
  OpT op;
  OpBuilder &b;
  Location loc;
  MLIRContext *ctx;
  Type elem;
  FloatType acc;
  int64_t hq, group;
  OpFoldResult B, H, Sq, Sk, D, Dv;
  AffineExpr d0, d1, d2, d3, d4, kvHead;
  IteratorType par = IteratorType::parallel, red = IteratorType::reduction;

  AttentionLowering(OpT op, OpBuilder &b)
      : op(op), b(b), loc(op.getLoc()), ctx(b.getContext()),
        elem(op.getQuery().getType().getElementType()),
        acc(rotor::getAccumulationType(elem)),
        hq(op.getQuery().getType().getDimSize(1)),
        group(hq / op.getKey().getType().getDimSize(1)) {
    B = rotor::getDim(b, loc, op.getQuery(), 0);
    H = b.getIndexAttr(hq);
    Sq = rotor::getDim(b, loc, op.getQuery(), 2);
    Sk = rotor::getDim(b, loc, op.getKey(), 2);
    D = rotor::getDim(b, loc, op.getQuery(), 3);
    Dv = rotor::getDim(b, loc, op.getValue(), 3);
    bindDims(ctx, d0, d1, d2, d3, d4);
    kvHead = d1.floorDiv(group);
  }

  AffineMap map(unsigned dims, ArrayRef<AffineExpr> results) const {
    return AffineMap::get(dims, 0, results, ctx);
  }
  AffineMap id4() const { return map(4, {d0, d1, d2, d3}); }
  AffineMap row() const { return map(4, {d0, d1, d2}); }
  Value ext(OpBuilder &nb, Location nl, Value x) const {
    return rotor::convertFloat(nb, nl, x, acc);
  }

  /// out[d0, d1, d2, d3] = Σ_d4 lhs[lhsMap] · rhs[rhsMap], in `acc`.
  Value contract(Value lhs, AffineMap lhsMap, Value rhs, AffineMap rhsMap,
                 ArrayRef<OpFoldResult> sizes) const {
    return generic(
        b, loc, {lhs, rhs}, filled(b, loc, sizes, acc, 0.0),
        {lhsMap, rhsMap, map(5, {d0, d1, d2, d3})}, {par, par, par, par, red},
        [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          Value prod = arith::MulFOp::create(nb, nl, ext(nb, nl, a[0]),
                                             ext(nb, nl, a[1]));
          return arith::AddFOp::create(nb, nl, a[2], prod);
        });
  }

  /// The unnormalized probabilities P = exp(S - m) (0 where masked) and
  /// their row sums l, from the biased, masked scores S.
  std::pair<Value, Value> probabilities() {
    Value q = op.getQuery(), k = op.getKey();
    double scale = op.getEffectiveScale();
    rotor::MaskAttr mask = op.getEffectiveMask();
    // Query i sits at position i + (Sk - Sq).
    Value offset = arith::SubIOp::create(
        b, loc, getValueOrCreateConstantIndexOp(b, loc, Sk),
        getValueOrCreateConstantIndexOp(b, loc, Sq));
    double inf = std::numeric_limits<double>::infinity();
    Value negInf = rotor::createFloatConstant(b, loc, acc, -inf);
    SmallVector<Attribute> slopeAttrs;
    for (double s : op.getEffectiveSlopes())
      slopeAttrs.push_back(FloatAttr::get(acc, s));
    auto slopesType = RankedTensorType::get({hq}, acc);
    Value slopes = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(slopesType, slopeAttrs));

    // S[b, h, i, j] = Σ_d q[b, h, i, d] · k[b, h / g, j, d]
    Value scores = contract(q, map(5, {d0, d1, d2, d4}), k,
                            map(5, {d0, kvHead, d3, d4}), {B, H, Sq, Sk});

    // S = visible(p, j) ? scale · S - slope[h] · |p - j| : -inf
    scores = generic(
        b, loc, {scores, slopes}, empty(b, loc, {B, H, Sq, Sk}, acc),
        {id4(), map(4, {d1}), id4()}, {par, par, par, par},
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
        b, loc, {scores}, filled(b, loc, {B, H, Sq}, acc, -inf),
        {id4(), row()}, {par, par, par, red},
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
        {id4(), row(), id4()}, {par, par, par, par},
        [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          return math::ExpOp::create(nb, nl,
                                     arith::SubFOp::create(nb, nl, a[0], a[1]));
        });
    Value rowSum = generic(
        b, loc, {probs}, filled(b, loc, {B, H, Sq}, acc, 0.0), {id4(), row()},
        {par, par, par, red},
        [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          return arith::AddFOp::create(nb, nl, a[0], a[1]);
        });
    return {probs, rowSum};
  }

  /// x / l where l > 0, else 0 (x of `sizes`, l per row), converted to
  /// `to`.
  Value normalize(Value x, Value rowSum, ArrayRef<OpFoldResult> sizes,
                  Type to) const {
    return generic(
        b, loc, {x, rowSum}, empty(b, loc, sizes, to), {id4(), row(), id4()},
        {par, par, par, par},
        [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          Value zero = rotor::createFloatConstant(nb, nl, acc, 0.0);
          Value any = arith::CmpFOp::create(nb, nl, arith::CmpFPredicate::OGT,
                                            a[1], zero);
          Value o = arith::SelectOp::create(
              nb, nl, any, arith::DivFOp::create(nb, nl, a[0], a[1]), zero);
          return rotor::convertFloat(nb, nl, o, to);
        });
  }

  /// Sums a per-query-head cotangent x (B, Hq, Sk, N) over the query heads
  /// of each key/value group: (B, Hkv, Sk, N) in the element type.
  Value sumGroups(Value x, OpFoldResult N) const {
    int64_t hkv = hq / group;
    OpFoldResult Hkv = b.getIndexAttr(hkv), G = b.getIndexAttr(group);
    auto xType = cast<RankedTensorType>(x.getType());
    SmallVector<int64_t> shape(xType.getShape());
    shape.insert(shape.begin() + 2, group);
    shape[1] = hkv;
    // h = hk · g + r: (B, Hq, Sk, N) -> (B, Hkv, g, Sk, N)
    Value grouped = tensor::ExpandShapeOp::create(
        b, loc, RankedTensorType::get(shape, acc), x,
        SmallVector<ReassociationIndices>{{0}, {1, 2}, {3}, {4}},
        SmallVector<OpFoldResult>{B, Hkv, G, Sk, N});
    Value sum = generic(
        b, loc, {grouped}, filled(b, loc, {B, Hkv, Sk, N}, acc, 0.0),
        {map(5, {d0, d1, d4, d2, d3}), map(5, {d0, d1, d2, d3})},
        {par, par, par, par, red},
        [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          return arith::AddFOp::create(nb, nl, a[0], a[1]);
        });
    return toElementType(sum, {B, Hkv, Sk, N});
  }

  /// x (4-D, of `sizes`, in `acc`) in the element type: x itself when they
  /// agree.
  Value toElementType(Value x, ArrayRef<OpFoldResult> sizes) const {
    if (acc == elem)
      return x;
    return generic(b, loc, {x}, empty(b, loc, sizes, elem), {id4(), id4()},
                   {par, par, par, par},
                   [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                     return rotor::convertFloat(nb, nl, a[0], elem);
                   });
  }
};

struct LowerAlibiAttention : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    AttentionLowering<AttentionOp> l(op, rewriter);
    auto [probs, rowSum] = l.probabilities();
    // O[b, h, i, e] = Σ_j P[b, h, i, j] · v[b, h / g, j, e]
    Value out =
        l.contract(probs, l.map(5, {l.d0, l.d1, l.d2, l.d4}), op.getValue(),
                   l.map(5, {l.d0, l.kvHead, l.d4, l.d3}),
                   {l.B, l.H, l.Sq, l.Dv});
    // out = l > 0 ? O / l : 0, in the element type.
    rewriter.replaceOp(op, l.normalize(out, rowSum, {l.B, l.H, l.Sq, l.Dv},
                                       l.elem));
    return success();
  }
};

struct LowerAlibiAttentionGrad : OpRewritePattern<AttentionGradOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionGradOp op,
                                PatternRewriter &rewriter) const override {
    AttentionLowering<AttentionGradOp> l(op, rewriter);
    OpBuilder &b = rewriter;
    Location loc = op.getLoc();
    auto [d0, d1, d2, d3, d4] = std::make_tuple(l.d0, l.d1, l.d2, l.d3, l.d4);
    auto par = l.par, red = l.red;
    Value q = op.getQuery(), k = op.getKey(), v = op.getValue(),
          dO = op.getGrad();
    // The normalized probabilities P (0 on rows with no visible key).
    auto [expS, rowSum] = l.probabilities();
    Value probs = l.normalize(expS, rowSum, {l.B, l.H, l.Sq, l.Sk}, l.acc);

    // dP[b, h, i, j] = Σ_e dO[b, h, i, e] · v[b, h / g, j, e]
    Value dP = l.contract(dO, l.map(5, {d0, d1, d2, d4}), v,
                          l.map(5, {d0, l.kvHead, d3, d4}),
                          {l.B, l.H, l.Sq, l.Sk});
    // Δ[b, h, i] = Σ_j dP · P
    Value delta = generic(
        b, loc, {dP, probs}, filled(b, loc, {l.B, l.H, l.Sq}, l.acc, 0.0),
        {l.id4(), l.id4(), l.row()}, {par, par, par, red},
        [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          return arith::AddFOp::create(
              nb, nl, a[2], arith::MulFOp::create(nb, nl, a[0], a[1]));
        });
    // dS = scale · P ⊙ (dP - Δ): the cotangent of the raw scores q · kᵀ.
    double scale = op.getEffectiveScale();
    Value dS = generic(
        b, loc, {probs, dP, delta},
        empty(b, loc, {l.B, l.H, l.Sq, l.Sk}, l.acc),
        {l.id4(), l.id4(), l.row(), l.id4()}, {par, par, par, par},
        [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          Value ds = arith::MulFOp::create(
              nb, nl, a[0], arith::SubFOp::create(nb, nl, a[1], a[2]));
          return arith::MulFOp::create(
              nb, nl, ds, rotor::createFloatConstant(nb, nl, l.acc, scale));
        });

    // dq[b, h, i, d] = Σ_j dS[b, h, i, j] · k[b, h / g, j, d]
    Value dq = l.contract(dS, l.map(5, {d0, d1, d2, d4}), k,
                          l.map(5, {d0, l.kvHead, d4, d3}),
                          {l.B, l.H, l.Sq, l.D});
    dq = l.toElementType(dq, {l.B, l.H, l.Sq, l.D});
    // Per query head: dk_h[b, h, j, d] = Σ_i dS[b, h, i, j] · q[b, h, i, d],
    // dv_h[b, h, j, e] = Σ_i P[b, h, i, j] · dO[b, h, i, e]; then the sums
    // over each key/value group.
    Value dkHeads = l.contract(dS, l.map(5, {d0, d1, d4, d2}), q,
                               l.map(5, {d0, d1, d4, d3}),
                               {l.B, l.H, l.Sk, l.D});
    Value dvHeads = l.contract(probs, l.map(5, {d0, d1, d4, d2}), dO,
                               l.map(5, {d0, d1, d4, d3}),
                               {l.B, l.H, l.Sk, l.Dv});
    rewriter.replaceOp(op, {dq, l.sumGroups(dkHeads, l.D),
                            l.sumGroups(dvHeads, l.Dv)});
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
    patterns.add<LowerAlibiAttention, LowerAlibiAttentionGrad>(&getContext());
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
