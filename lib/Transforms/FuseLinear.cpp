//===- FuseLinear.cpp - Fuse epilogues into linear layers -------------------===//
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
#define GEN_PASS_DEF_ROTORFUSELINEAR
#include "rotor/Transforms/Passes.h.inc"
} // namespace mlir::rotor

using namespace mlir;
using namespace mlir::rotor;

namespace {

/// Reports a fusion that removed `intermediates` tensors of `type`: each was
/// written once and read once.
struct FusionReporter {
  bool enabled = false;
  void operator()(Operation *fused, StringRef what, RankedTensorType type,
                  int64_t intermediates) const {
    if (!enabled)
      return;
    int64_t elemBytes = (type.getElementTypeBitWidth() + 7) / 8;
    int64_t perRow = type.getShape().back();
    llvm::errs() << "rotor-fuse-linear: " << what << " at " << fused->getLoc()
                 << ": saves ";
    if (type.hasStaticShape())
      llvm::errs() << 2 * intermediates * type.getNumElements() * elemBytes
                   << " bytes\n";
    else
      llvm::errs() << 2 * intermediates * perRow * elemBytes
                   << " bytes per row of " << type << "\n";
  }
};

/// The activation computed by `op` (relu, silu, gelu), if it is one.
std::optional<Activation> activationOf(Operation *op) {
  if (isa<ReluOp>(op))
    return Activation::relu;
  if (isa<SiluOp>(op))
    return Activation::silu;
  if (auto gelu = dyn_cast<GeluOp>(op))
    return gelu.getApproximate() == GeluApproximation::tanh
               ? Activation::gelu_tanh
               : Activation::gelu;
  return std::nullopt;
}

/// act(linear(x, W, b)) => fused_linear(x, W, b) {act}
/// act(fused_linear(x, W, b) {none}) => fused_linear(x, W, b) {act}
struct FuseActivation : RewritePattern {
  FuseActivation(MLIRContext *ctx, const FusionReporter &report)
      : RewritePattern(MatchAnyOpTypeTag(), 1, ctx), report(report) {}
  const FusionReporter &report;

  LogicalResult matchAndRewrite(Operation *op,
                                PatternRewriter &rewriter) const override {
    std::optional<Activation> act = activationOf(op);
    if (!act)
      return failure();
    Operation *producer = op->getOperand(0).getDefiningOp();
    if (!producer || !producer->hasOneUse())
      return failure();
    Value x, w, b;
    if (auto linear = dyn_cast<LinearOp>(producer)) {
      x = linear.getInput(), w = linear.getWeight(), b = linear.getBias();
    } else if (auto fused = dyn_cast<FusedLinearOp>(producer)) {
      if (fused.getActivation() != Activation::none || fused.getResidual())
        return failure();
      x = fused.getInput(), w = fused.getWeight(), b = fused.getBias();
    } else {
      return failure();
    }
    auto type = cast<RankedTensorType>(op->getResult(0).getType());
    std::string what = (op->getName().getStringRef() + " into rotor.linear").str();
    auto fused = rewriter.replaceOpWithNewOp<FusedLinearOp>(
        op, type, x, w, b, /*residual=*/Value(), *act);
    report(fused, what, type, 1);
    return success();
  }
};

/// add(linear-or-fused(x, W, b) {act}, r) => fused_linear(x, W, b, r) {act}
struct FuseResidual : OpRewritePattern<AddOp> {
  FuseResidual(MLIRContext *ctx, const FusionReporter &report)
      : OpRewritePattern(ctx), report(report) {}
  const FusionReporter &report;

  LogicalResult matchAndRewrite(AddOp add,
                                PatternRewriter &rewriter) const override {
    for (unsigned i = 0; i < 2; ++i) {
      Value side = add->getOperand(i), residual = add->getOperand(1 - i);
      Operation *producer = side.getDefiningOp();
      if (!producer || !producer->hasOneUse() ||
          residual.getType() != add.getType() || side.getType() != add.getType())
        continue;
      Value x, w, b;
      Activation act = Activation::none;
      if (auto linear = dyn_cast<LinearOp>(producer)) {
        x = linear.getInput(), w = linear.getWeight(), b = linear.getBias();
      } else if (auto fused = dyn_cast<FusedLinearOp>(producer)) {
        if (fused.getResidual())
          continue;
        x = fused.getInput(), w = fused.getWeight(), b = fused.getBias();
        act = fused.getActivation();
      } else {
        continue;
      }
      auto type = cast<RankedTensorType>(add.getType());
      auto fused = rewriter.replaceOpWithNewOp<FusedLinearOp>(
          add, type, x, w, b, residual, act);
      report(fused, "residual rotor.add into rotor.linear", type, 1);
      return success();
    }
    return failure();
  }
};

/// swiglu(linear(x, Wg), linear(x, Wu)) => fused_gate_up(x, Wg, Wu)
struct FuseGateUp : OpRewritePattern<SwigluOp> {
  FuseGateUp(MLIRContext *ctx, const FusionReporter &report)
      : OpRewritePattern(ctx, /*benefit=*/2), report(report) {}
  const FusionReporter &report;

  LogicalResult matchAndRewrite(SwigluOp op,
                                PatternRewriter &rewriter) const override {
    auto gate = op.getGate().getDefiningOp<LinearOp>();
    auto up = op.getUp().getDefiningOp<LinearOp>();
    if (!gate || !up || gate == up || !gate->hasOneUse() || !up->hasOneUse() ||
        gate.getBias() || up.getBias() || gate.getInput() != up.getInput() ||
        gate.getWeight().getType() != up.getWeight().getType())
      return failure();
    auto type = cast<RankedTensorType>(op.getType());
    auto fused = rewriter.replaceOpWithNewOp<FusedGateUpOp>(
        op, type, gate.getInput(), gate.getWeight(), up.getWeight());
    report(fused, "rotor.swiglu of two rotor.linear into one kernel", type, 2);
    return success();
  }
};

struct FuseLinearPass : rotor::impl::RotorFuseLinearBase<FuseLinearPass> {
  using Base::Base;
  void runOnOperation() override {
    FusionReporter reporter{report};
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseGateUp, FuseActivation, FuseResidual>(&getContext(),
                                                            reporter);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
