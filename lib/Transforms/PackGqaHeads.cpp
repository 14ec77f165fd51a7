//===- PackGqaHeads.cpp - One tile for the query heads of a KV group -------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// The attention kernels tile the queries of one head. With few queries
// (decoding: one) a tile is mostly padding, and each of the G = Hq / Hkv
// query heads that share a key/value head streams the same keys and values
// again. When no mask, bias or rope depends on the query positions, the G
// heads' queries can be laid out as G·Sq queries of the shared head: a
// reshape, since query head h = kv·G + g is already contiguous per group.
//
//===----------------------------------------------------------------------===//

#include "rotor/Dialect/Rotor/RotorOps.h"
#include "rotor/Transforms/Passes.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include "llvm/Support/raw_ostream.h"

namespace mlir::rotor {
#define GEN_PASS_DEF_ROTORPACKGQAHEADS
#include "rotor/Transforms/Passes.h.inc"
} // namespace mlir::rotor

using namespace mlir;
using namespace mlir::rotor;

namespace {

/// attention(q (B, Hkv·G, Sq, D), k, v)            [full mask, Sq small]
///   => reshape(attention(reshape(q) (B, Hkv, G·Sq, D), k, v)) (B, Hkv·G, Sq, Dv)
struct PackGqaHeads : OpRewritePattern<AttentionOp> {
  PackGqaHeads(MLIRContext *ctx, int64_t maxQueries, bool report)
      : OpRewritePattern(ctx), maxQueries(maxQueries), report(report) {}
  int64_t maxQueries;
  bool report;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    auto qType = op.getQuery().getType();
    int64_t hq = qType.getDimSize(1), sq = qType.getDimSize(2);
    int64_t hkv = op.getKey().getType().getDimSize(1);
    if (ShapedType::isDynamic(hq) || ShapedType::isDynamic(hkv) ||
        ShapedType::isDynamic(sq) || hkv == 0 || hq == hkv)
      return rewriter.notifyMatchFailure(op, "no static query groups");
    if (sq >= maxQueries)
      return rewriter.notifyMatchFailure(op, "query tiles are already full");
    // Anything that depends on a query's position or head keeps the layout.
    if (!op.getEffectiveMask().isFull() || op.getBias() || op.getLse() ||
        op.hasPrologue())
      return rewriter.notifyMatchFailure(
          op, "mask, bias, lse, rope or query rotation depends on the query "
              "layout");
    // The number of existing keys, query_start + Sq, depends on Sq.
    if (op.getQueryStart())
      return rewriter.notifyMatchFailure(op, "query_start (static cache)");
    int64_t group = hq / hkv;
    Location loc = op.getLoc();
    int64_t batch = qType.getDimSize(0), d = qType.getDimSize(3);
    auto packedType = RankedTensorType::get({batch, hkv, group * sq, d},
                                            qType.getElementType());
    SmallVector<ReassociationIndices> heads = {{0}, {1, 2}, {3}, {4}};
    SmallVector<ReassociationIndices> rows = {{0}, {1}, {2, 3}, {4}};
    // (B, Hkv·G, Sq, D) -> (B, Hkv, G, Sq, D) -> (B, Hkv, G·Sq, D)
    Value q = tensor::ExpandShapeOp::create(
        rewriter, loc,
        RankedTensorType::get({batch, hkv, group, sq, d},
                              qType.getElementType()),
        op.getQuery(), heads);
    q = tensor::CollapseShapeOp::create(rewriter, loc, packedType, q, rows);
    auto packed = AttentionOp::create(
        rewriter, loc, q, op.getKey(), op.getValue(), Value(), Value(),
        Value(), Value(), Value(), Value(), /*query_start=*/Value(),
        op.getMaskAttr(),
        op.getScaleAttr(), op.getSoftcapAttr(), op.getBiasMaxDistanceAttr(),
        UnitAttr(), RopeLayoutAttr(), IntegerAttr(), FloatAttr(),
        RopeScalingAttr(), DenseI64ArrayAttr());
    // The default scale depends on the head dimension only.
    auto outType = op.getOutput().getType();
    int64_t dv = outType.getDimSize(3);
    Value out = tensor::ExpandShapeOp::create(
        rewriter, loc,
        RankedTensorType::get({batch, hkv, group, sq, dv},
                              outType.getElementType()),
        packed.getOutput(), rows);
    out = tensor::CollapseShapeOp::create(rewriter, loc, outType, out, heads);
    if (report)
      llvm::errs() << "rotor-pack-gqa-heads: " << group << " query heads of "
                   << sq << (sq == 1 ? " query" : " queries")
                   << " per key/value head into one tile at " << loc
                   << ": keys and values read once per group instead of "
                   << group << " times\n";
    rewriter.replaceOp(op, out);
    return success();
  }
};

struct PackGqaHeadsPass
    : rotor::impl::RotorPackGqaHeadsBase<PackGqaHeadsPass> {
  using Base::Base;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<PackGqaHeads>(&getContext(), maxQueries, report);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
