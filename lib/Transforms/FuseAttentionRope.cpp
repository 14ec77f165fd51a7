//===- FuseAttentionRope.cpp - Fuse q/k rotary embeddings into attention ---===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/Dialect/Rotor/RotorOps.h"
#include "rotor/Transforms/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include "llvm/Support/raw_ostream.h"

namespace mlir::rotor {
#define GEN_PASS_DEF_ROTORFUSEATTENTIONROPE
#include "rotor/Transforms/Passes.h.inc"
} // namespace mlir::rotor

using namespace mlir;
using namespace mlir::rotor;

namespace {

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
        op.getBias(), qPos, kPos, spec->learnedBase, op.getMaskAttr(),
        op.getScaleAttr(), op.getSoftcapAttr(), op.getBiasMaxDistanceAttr(),
        op.getReturnLseAttr(), layout, spec->rotaryDim, spec->base,
        spec->scaling);
    if (report) {
      if (qRope)
        printReport(fused, "queries", qRope.getType());
      if (kRope)
        printReport(fused, "keys", kRope.getType());
    }
    rewriter.replaceOp(op, fused->getResults());
    if (qRope)
      rewriter.eraseOp(qRope);
    if (kRope)
      rewriter.eraseOp(kRope);
    return success();
  }

  /// The rotated tensor of `type` was written once and read once.
  static void printReport(AttentionOp fused, StringRef side,
                          RankedTensorType type) {
    int64_t elemBytes = (type.getElementTypeBitWidth() + 7) / 8;
    llvm::errs() << "rotor-fuse-attention-rope: rotor.rope of the " << side
                 << " into rotor.attention at " << fused.getLoc()
                 << ": saves ";
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

} // namespace
