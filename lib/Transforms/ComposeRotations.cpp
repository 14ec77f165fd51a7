//===- ComposeRotations.cpp - Rotation chains composed into one matrix ----===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// A Givens chain G and a rotation matrix R applied one after the other to a
// tensor x of many rows are one linear map: x · G · R = x · (G · R). The
// product M = G · R is a D x D matrix, formed by applying the chain to the
// rows of the identity (I · G = G) and then the matrix, so that x is read
// and written once, by one product, instead of once per rotation. Forming
// M costs O(D³), independent of the rows: it pays when x has many more
// rows than D (prefill, training, the anchors' Givens block), and the
// pattern leaves alone a tensor whose static row count is below min-rows.
//
//===----------------------------------------------------------------------===//

#include "rotor/Dialect/Rotor/RotorOps.h"
#include "rotor/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include "llvm/Support/raw_ostream.h"

namespace mlir::rotor {
#define GEN_PASS_DEF_ROTORCOMPOSEROTATIONS
#include "rotor/Transforms/Passes.h.inc"
} // namespace mlir::rotor

using namespace mlir;
using namespace mlir::rotor;

namespace {

/// The D x D identity of x's element type (D = x's last dimension).
Value identity(PatternRewriter &rewriter, Location loc, RankedTensorType x) {
  int64_t d = x.getDimSize(x.getRank() - 1);
  auto type = RankedTensorType::get({d, d}, x.getElementType());
  const llvm::fltSemantics &sem =
      cast<FloatType>(x.getElementType()).getFloatSemantics();
  SmallVector<APFloat> values(d * d, APFloat::getZero(sem));
  for (int64_t i = 0; i < d; ++i)
    values[i * d + i] = APFloat::getOne(sem);
  return arith::ConstantOp::create(rewriter, loc, type,
                                   DenseElementsAttr::get(type, values));
}

/// The map of `rotation` (a rotor.givens or rotor.rotate) applied to `v`.
Value applyTo(PatternRewriter &rewriter, Operation *rotation, Value v) {
  if (auto g = dyn_cast<GivensOp>(rotation))
    return GivensOp::create(rewriter, g.getLoc(), v, g.getAngles(),
                            g.getPairsAttr());
  return RotateOp::create(rewriter, rotation->getLoc(), v,
                          cast<RotateOp>(rotation).getRotation());
}

/// rotate(givens(x, θ, P), R) => rotate(x, rotate(givens(I, θ, P), R))
/// rotate(rotate(x, A), B)    => rotate(x, rotate(A, B))
/// givens(rotate(x, A), θ, P) => rotate(x, givens(A, θ, P))
/// where the inner op has no other use, the last dimension D is static and
/// x has at least minRows rows (a dynamic count is assumed to have).
template <typename OpTy> struct ComposeRotation : OpRewritePattern<OpTy> {
  ComposeRotation(MLIRContext *ctx, int64_t minRows, bool report)
      : OpRewritePattern<OpTy>(ctx), minRows(minRows), report(report) {}
  int64_t minRows;
  bool report;

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    Operation *inner = op.getInput().getDefiningOp();
    if (!inner || !isa<GivensOp, RotateOp>(inner) || !inner->hasOneUse())
      return rewriter.notifyMatchFailure(op, "no single-use rotation inside");
    // Two chains are merged by the canonicalizer instead (O(D) per row).
    if (isa<GivensOp>(inner) && isa<GivensOp>(op.getOperation()))
      return rewriter.notifyMatchFailure(op, "two Givens chains");
    Value x = inner->getOperand(0);
    auto xType = cast<RankedTensorType>(x.getType());
    int64_t d = xType.getDimSize(xType.getRank() - 1);
    if (ShapedType::isDynamic(d))
      return rewriter.notifyMatchFailure(op, "dynamic last dimension");
    // The composed product's own input has D rows: never composed again.
    int64_t threshold = std::max(minRows > 0 ? minRows : 4 * d, d + 1);
    ArrayRef<int64_t> lead = xType.getShape().drop_back();
    if (llvm::none_of(lead, ShapedType::isDynamic) &&
        ShapedType::getNumElements(lead) < threshold)
      return rewriter.notifyMatchFailure(op, "too few rows to pay for D³");
    Location loc = op.getLoc();
    // The first map as a D x D matrix (a chain applied to the identity,
    // I · G = G), then the second applied to it.
    Value first = isa<GivensOp>(inner)
                      ? applyTo(rewriter, inner, identity(rewriter, loc, xType))
                      : cast<RotateOp>(inner).getRotation();
    Value product = applyTo(rewriter, op, first);
    if (report)
      llvm::errs() << "rotor-compose-rotations: rotor."
                   << inner->getName().stripDialect() << " then rotor."
                   << op->getName().stripDialect() << " composed into one " << d
                   << "x" << d << " matrix at " << loc << "\n";
    rewriter.replaceOpWithNewOp<RotateOp>(op, op.getType(), x, product);
    rewriter.eraseOp(inner);
    return success();
  }
};

struct ComposeRotationsPass
    : rotor::impl::RotorComposeRotationsBase<ComposeRotationsPass> {
  using Base::Base;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<ComposeRotation<RotateOp>, ComposeRotation<GivensOp>>(
        &getContext(), minRows, report);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
