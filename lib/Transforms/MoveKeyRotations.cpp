//===- MoveKeyRotations.cpp - Key-side rotations onto the queries ----------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Attention sees q and k only through the scores q · kᵀ, so a linear map N
// applied to the keys can be applied to the queries instead:
//
//   (x M) · (k N)ᵀ = (x M Nᵀ) · kᵀ
//
// There are Sq queries per head against Sk keys (and Hkv <= Hq heads), but a
// rotated key is read by every query tile, while a rotated query is used by
// one: moving the rotation to the queries costs a decode step one row
// instead of the whole cache, and two equal Givens chains (orthogonal: G Gᵀ
// = I) cancel outright.
//
//===----------------------------------------------------------------------===//

#include "rotor/Dialect/Rotor/RotorOps.h"
#include "rotor/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include "llvm/Support/raw_ostream.h"

namespace mlir::rotor {
#define GEN_PASS_DEF_ROTORMOVEKEYROTATIONS
#include "rotor/Transforms/Passes.h.inc"
} // namespace mlir::rotor

using namespace mlir;
using namespace mlir::rotor;

namespace {

/// The inverse (transpose) of the Givens chain G_0 · … · G_{N-1}: the
/// rotations in reverse order, each by -θ, which is the rotation of the
/// swapped plane (j, i) by θ. Only the angles' order changes, by a
/// reversing linalg.generic (they may be learned).
Value invertGivens(PatternRewriter &rewriter, GivensOp g, Value x) {
  Location loc = g.getLoc();
  ArrayRef<int64_t> pairs = g.getPairs();
  int64_t n = g.getNumRotations();
  SmallVector<int64_t> inverse;
  for (int64_t r = n - 1; r >= 0; --r) {
    inverse.push_back(pairs[2 * r + 1]);
    inverse.push_back(pairs[2 * r]);
  }
  Value angles = g.getAngles();
  if (n > 1) {
    auto type = cast<RankedTensorType>(angles.getType());
    MLIRContext *ctx = rewriter.getContext();
    AffineMap reversed =
        AffineMap::get(1, 0, {getAffineConstantExpr(n - 1, ctx) -
                              getAffineDimExpr(0, ctx)},
                       ctx);
    Value init = tensor::EmptyOp::create(rewriter, loc, type.getShape(),
                                         type.getElementType());
    angles = linalg::GenericOp::create(
                 rewriter, loc, TypeRange{type}, ValueRange{angles},
                 ValueRange{init},
                 ArrayRef<AffineMap>{reversed, rewriter.getDimIdentityMap()},
                 ArrayRef<utils::IteratorType>{utils::IteratorType::parallel},
                 [](OpBuilder &b, Location l, ValueRange args) {
                   linalg::YieldOp::create(b, l, args[0]);
                 })
                 .getResult(0);
  }
  return GivensOp::create(rewriter, loc, x, angles,
                          rewriter.getDenseI64ArrayAttr(inverse));
}

/// attention(givens(q, θ, P), givens(k, θ, P), v) => attention(q, k, v)
/// attention(x, givens(k, θ, P), v)               => attention(givens⁻¹(x), k, v)
/// attention(x, rotate(k, R), v)                  => attention(rotate(x, Rᵀ), k, v)
struct MoveKeyRotation : OpRewritePattern<AttentionOp> {
  MoveKeyRotation(MLIRContext *ctx, bool report)
      : OpRewritePattern(ctx), report(report) {}
  bool report;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    // A fused rope rotates after these maps: they no longer commute. A
    // fused query rotation would apply after the moved inverse.
    if (op.hasPrologue())
      return rewriter.notifyMatchFailure(op, "fused rope or query rotation");
    Operation *keyOp = op.getKey().getDefiningOp();
    if (!keyOp || !isa<GivensOp, RotateOp>(keyOp) || !keyOp->hasOneUse())
      return rewriter.notifyMatchFailure(op, "no key rotation to move");
    Value query = op.getQuery();
    Value key = keyOp->getOperand(0);
    StringRef what;
    Operation *cancelled = nullptr;
    if (auto g = dyn_cast<GivensOp>(keyOp)) {
      auto qg = query.getDefiningOp<GivensOp>();
      if (qg && qg->hasOneUse() && qg.getAngles() == g.getAngles() &&
          qg.getPairs() == g.getPairs()) {
        query = qg.getInput();
        cancelled = qg;
        what = "equal rotor.givens chains on q and k cancel";
      } else {
        query = invertGivens(rewriter, g, query);
        what = "rotor.givens of the keys onto the queries";
      }
    } else {
      auto r = cast<RotateOp>(keyOp);
      auto rType = cast<RankedTensorType>(r.getRotation().getType());
      if (!rType.hasStaticShape())
        return rewriter.notifyMatchFailure(op, "dynamic rotation matrix");
      Value init = tensor::EmptyOp::create(
          rewriter, op.getLoc(),
          SmallVector<int64_t>{rType.getDimSize(1), rType.getDimSize(0)},
          rType.getElementType());
      Value transposed =
          linalg::TransposeOp::create(rewriter, op.getLoc(), r.getRotation(),
                                      init, ArrayRef<int64_t>{1, 0})
              .getResult()[0];
      query = RotateOp::create(rewriter, op.getLoc(), query, transposed);
      what = "rotor.rotate of the keys onto the queries";
    }
    auto moved = AttentionOp::create(
        rewriter, op.getLoc(), query, key, op.getValue(), op.getBias(),
        Value(), Value(), Value(), Value(), Value(), op.getQueryStart(),
        op.getMaskAttr(),
        op.getScaleAttr(), op.getSoftcapAttr(), op.getBiasMaxDistanceAttr(),
        op.getReturnLseAttr(), RopeLayoutAttr(), IntegerAttr(), FloatAttr(),
        RopeScalingAttr(), DenseI64ArrayAttr());
    if (report)
      llvm::errs() << "rotor-move-key-rotations: " << what << " at "
                   << op.getLoc() << "\n";
    rewriter.replaceOp(op, moved->getResults());
    rewriter.eraseOp(keyOp);
    if (cancelled)
      rewriter.eraseOp(cancelled);
    return success();
  }
};

struct MoveKeyRotationsPass
    : rotor::impl::RotorMoveKeyRotationsBase<MoveKeyRotationsPass> {
  using Base::Base;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<MoveKeyRotation>(&getContext(), report);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
