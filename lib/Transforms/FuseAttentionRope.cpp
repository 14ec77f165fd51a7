//===- FuseAttentionRope.cpp - Fuse q/k rotations into attention ----------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// The attention prologue fusions: rotor-fuse-attention-rope (rope of q and
// k) and rotor-fuse-attention-rotations (Givens chain and rotation matrix
// of q). Both move a producer whose only use is an attention operand into
// the op, which applies it to the tile it loads.
//
//===----------------------------------------------------------------------===//

#include "rotor/Dialect/Rotor/RotorOps.h"
#include "rotor/Transforms/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include "llvm/Support/raw_ostream.h"

namespace mlir::rotor {
#define GEN_PASS_DEF_ROTORFUSEATTENTIONROPE
#define GEN_PASS_DEF_ROTORFUSEATTENTIONROTATIONS
#include "rotor/Transforms/Passes.h.inc"
} // namespace mlir::rotor

using namespace mlir;
using namespace mlir::rotor;

namespace {

/// Prints that `pass` fused `what` into the attention op `fused`: the
/// rotated tensor of `type` was written once and read once.
void printFusionReport(StringRef pass, StringRef what, AttentionOp fused,
                       RankedTensorType type) {
  int64_t elemBytes = (type.getElementTypeBitWidth() + 7) / 8;
  llvm::errs() << pass << ": " << what << " into rotor.attention at "
               << fused.getLoc() << ": saves ";
  if (type.hasStaticShape()) {
    llvm::errs() << 2 * type.getNumElements() * elemBytes << " bytes\n";
    return;
  }
  // Per token: the heads times the head dimension (static when known).
  int64_t perToken = type.getDimSize(1) * type.getDimSize(3);
  if (ShapedType::isDynamic(type.getDimSize(1)) ||
      ShapedType::isDynamic(type.getDimSize(3)))
    llvm::errs() << "the traffic of " << type << "\n";
  else
    llvm::errs() << 2 * perToken * elemBytes << " bytes per token of "
                 << type << "\n";
}

/// The parameters a fused rope shares between queries and keys.
struct RopeSpec {
  RopeLayout layout = RopeLayout::rotate_half;
  IntegerAttr rotaryDim;
  FloatAttr base;
  Value learnedBase;
  RopeScalingAttr scaling;

  static RopeSpec of(RopeOp op) {
    return {op.getLayout(), op.getRotaryDimAttr(), op.getBaseAttr(),
            op.getLearnedBase(), op.getScalingAttr()};
  }
  static RopeSpec of(AttentionOp op) {
    return {op.getEffectiveRopeLayout(), op.getRopeRotaryDimAttr(),
            op.getRopeBaseAttr(), op.getRopeLearnedBase(),
            op.getRopeScalingAttr()};
  }
  bool operator==(const RopeSpec &o) const {
    return layout == o.layout && rotaryDim == o.rotaryDim && base == o.base &&
           learnedBase == o.learnedBase && scaling == o.scaling;
  }
};

/// The rope producing `v` when the attention is its only user.
RopeOp fusableRope(Value v) {
  auto rope = v.getDefiningOp<RopeOp>();
  // A transposed rope (the backward of a rope) has no fused form.
  if (!rope || !rope->hasOneUse() || rope.getTranspose())
    return {};
  return rope;
}

/// attention(rope(q, pq), rope(k, pk), v) => attention(q, k, v) rope_q(pq) rope_k(pk)
/// attention(rope(q, pq), k, v)           => attention(q, k, v) rope_q(pq)
/// attention(q, rope(k, pk), v)           => attention(q, k, v) rope_k(pk)
struct FuseRopeIntoAttention : OpRewritePattern<AttentionOp> {
  FuseRopeIntoAttention(MLIRContext *ctx, bool keys, bool report)
      : OpRewritePattern(ctx), keys(keys), report(report) {}
  bool keys, report;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    std::optional<RopeSpec> spec;
    if (op.hasRope())
      spec = RopeSpec::of(op);
    RopeOp qRope, kRope;
    if (!op.getQueryPositions())
      qRope = fusableRope(op.getQuery());
    if (keys && !op.getKeyPositions())
      kRope = fusableRope(op.getKey());
    // One set of parameters for both sides: the one already fused, else the
    // queries'.
    if (qRope && spec && !(RopeSpec::of(qRope) == *spec))
      qRope = {};
    if (qRope && !spec)
      spec = RopeSpec::of(qRope);
    if (kRope && spec && !(RopeSpec::of(kRope) == *spec))
      kRope = {};
    if (kRope && !spec)
      spec = RopeSpec::of(kRope);
    if (!qRope && !kRope)
      return rewriter.notifyMatchFailure(op, "no fusable rope on q or k");

    Value query = qRope ? qRope.getInput() : op.getQuery();
    Value key = kRope ? kRope.getInput() : op.getKey();
    Value qPos = qRope ? qRope.getPositions() : op.getQueryPositions();
    Value kPos = kRope ? kRope.getPositions() : op.getKeyPositions();
    RopeLayoutAttr layout;
    if (spec->layout != RopeLayout::rotate_half)
      layout = RopeLayoutAttr::get(getContext(), spec->layout);
    auto fused = AttentionOp::create(
        rewriter, op.getLoc(), query, key, op.getValue(),
        op.getBias(), qPos, kPos, spec->learnedBase,
        op.getQueryGivensAngles(), op.getQueryRotation(), op.getQueryStart(),
        op.getMaskAttr(),
        op.getScaleAttr(), op.getSoftcapAttr(), op.getBiasMaxDistanceAttr(),
        op.getReturnLseAttr(), layout, spec->rotaryDim, spec->base,
        spec->scaling, op.getGivensQPairsAttr());
    if (report) {
      if (qRope)
        printFusionReport("rotor-fuse-attention-rope", "rotor.rope of the queries", fused,
                          qRope.getType());
      if (kRope)
        printFusionReport("rotor-fuse-attention-rope", "rotor.rope of the keys", fused,
                          kRope.getType());
    }
    rewriter.replaceOp(op, fused->getResults());
    if (qRope)
      rewriter.eraseOp(qRope);
    if (kRope)
      rewriter.eraseOp(kRope);
    return success();
  }
};

/// The fused op applies rope, then the Givens chain, then the matrix, so a
/// producer of the query operand can join only in front of what is fused:
///
/// attention(givens(q, θ, P), k, v) [rotate_q(R)] => attention(q, k, v) givens_q(θ) pairs P [rotate_q(R)]
/// attention(rotate(q, R), k, v)                  => attention(q, k, v) rotate_q(R)
///
/// Applied to a fixed point, rotate(givens(q)) fuses whole.
struct FuseQueryRotationIntoAttention : OpRewritePattern<AttentionOp> {
  FuseQueryRotationIntoAttention(MLIRContext *ctx, bool report)
      : OpRewritePattern(ctx), report(report) {}
  bool report;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    // A fused rope of the queries applies first: a producer of the query
    // operand would have to apply before it.
    if (op.getQueryPositions())
      return rewriter.notifyMatchFailure(op, "the queries' rope is fused");
    if (ShapedType::isDynamic(op.getQuery().getType().getDimSize(3)))
      return rewriter.notifyMatchFailure(op, "dynamic head dimension");
    Operation *producer = op.getQuery().getDefiningOp();
    if (!producer || !producer->hasOneUse())
      return rewriter.notifyMatchFailure(op, "no single-use query producer");
    Value angles = op.getQueryGivensAngles();
    Value rotation = op.getQueryRotation();
    DenseI64ArrayAttr pairs = op.getGivensQPairsAttr();
    StringRef what;
    if (auto g = dyn_cast<GivensOp>(producer); g && !angles) {
      angles = g.getAngles();
      pairs = g.getPairsAttr();
      what = "rotor.givens of the queries";
    } else if (auto r = dyn_cast<RotateOp>(producer);
               r && !angles && !rotation) {
      rotation = r.getRotation();
      what = "rotor.rotate of the queries";
    } else {
      return rewriter.notifyMatchFailure(
          op, "the query producer is no rotation that applies before the "
              "fused ones");
    }
    auto fused = AttentionOp::create(
        rewriter, op.getLoc(), producer->getOperand(0), op.getKey(),
        op.getValue(), op.getBias(), op.getQueryPositions(),
        op.getKeyPositions(), op.getRopeLearnedBase(), angles, rotation,
        op.getQueryStart(), op.getMaskAttr(), op.getScaleAttr(), op.getSoftcapAttr(),
        op.getBiasMaxDistanceAttr(), op.getReturnLseAttr(),
        op.getRopeLayoutAttr(), op.getRopeRotaryDimAttr(), op.getRopeBaseAttr(),
        op.getRopeScalingAttr(), pairs);
    if (report)
      printFusionReport("rotor-fuse-attention-rotations", what, fused,
                        op.getQuery().getType());
    rewriter.replaceOp(op, fused->getResults());
    rewriter.eraseOp(producer);
    return success();
  }
};

struct FuseAttentionRopePass
    : rotor::impl::RotorFuseAttentionRopeBase<FuseAttentionRopePass> {
  using Base::Base;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseRopeIntoAttention>(&getContext(), keys, report);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

struct FuseAttentionRotationsPass
    : rotor::impl::RotorFuseAttentionRotationsBase<FuseAttentionRotationsPass> {
  using Base::Base;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseQueryRotationIntoAttention>(&getContext(), report);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
