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

/// Reports a fusion that removed `accesses` full reads or writes of
/// tensors of `type` (2 per intermediate written once and read once).
struct FusionReporter {
  bool enabled = false;
  void operator()(Operation *fused, StringRef what, RankedTensorType type,
                  int64_t accesses) const {
    if (!enabled)
      return;
    int64_t elemBytes = (type.getElementTypeBitWidth() + 7) / 8;
    int64_t perRow = type.getShape().back();
    llvm::errs() << "rotor-fuse-linear: " << what << " at " << fused->getLoc()
                 << ": saves ";
    if (type.hasStaticShape())
      llvm::errs() << accesses * type.getNumElements() * elemBytes
                   << " bytes\n";
    else
      llvm::errs() << accesses * perRow * elemBytes
                   << " bytes per row of " << type << "\n";
  }
};

/// A pattern rooted at `OpTy` that reports what it fuses.
template <typename OpTy>
struct FusionPattern : OpRewritePattern<OpTy> {
  FusionPattern(MLIRContext *ctx, const FusionReporter &report,
                PatternBenefit benefit = 1)
      : OpRewritePattern<OpTy>(ctx, benefit), report(report) {}
  const FusionReporter &report;
};

/// The operands of a rotor.linear or rotor.fused_linear that a fused op
/// built from it keeps.
struct LinearParts {
  Value x, w, b, normWeight;
  FloatAttr normEpsilon;
  LinearParts() = default;
  explicit LinearParts(LinearOp op)
      : x(op.getInput()), w(op.getWeight()), b(op.getBias()) {}
  explicit LinearParts(FusedLinearOp op)
      : x(op.getInput()), w(op.getWeight()), b(op.getBias()),
        normWeight(op.getNormWeight()), normEpsilon(op.getNormEpsilonAttr()) {}
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
    LinearParts parts;
    if (auto linear = dyn_cast<LinearOp>(producer)) {
      parts = LinearParts(linear);
    } else if (auto fused = dyn_cast<FusedLinearOp>(producer)) {
      if (fused.getActivation() != Activation::none || fused.getResidual())
        return failure();
      parts = LinearParts(fused);
    } else {
      return failure();
    }
    auto type = cast<RankedTensorType>(op->getResult(0).getType());
    std::string what = (op->getName().getStringRef() + " into rotor.linear").str();
    auto fused = rewriter.replaceOpWithNewOp<FusedLinearOp>(
        op, type, parts.x, parts.w, parts.b, /*residual=*/Value(),
        parts.normWeight, *act, parts.normEpsilon);
    report(fused, what, type, 2);
    return success();
  }
};

/// add(linear-or-fused(x, W, b) {act}, r) => fused_linear(x, W, b, r) {act}
struct FuseResidual : FusionPattern<AddOp> {
  using FusionPattern::FusionPattern;

  LogicalResult matchAndRewrite(AddOp add,
                                PatternRewriter &rewriter) const override {
    for (unsigned i = 0; i < 2; ++i) {
      Value side = add->getOperand(i), residual = add->getOperand(1 - i);
      Operation *producer = side.getDefiningOp();
      if (!producer || !producer->hasOneUse() ||
          residual.getType() != add.getType() || side.getType() != add.getType())
        continue;
      LinearParts parts;
      Activation act = Activation::none;
      if (auto linear = dyn_cast<LinearOp>(producer)) {
        parts = LinearParts(linear);
      } else if (auto fused = dyn_cast<FusedLinearOp>(producer)) {
        if (fused.getResidual())
          continue;
        parts = LinearParts(fused);
        act = fused.getActivation();
      } else {
        continue;
      }
      auto type = cast<RankedTensorType>(add.getType());
      auto fused = rewriter.replaceOpWithNewOp<FusedLinearOp>(
          add, type, parts.x, parts.w, parts.b, residual, parts.normWeight,
          act, parts.normEpsilon);
      report(fused, "residual rotor.add into rotor.linear", type, 2);
      return success();
    }
    return failure();
  }
};

/// swiglu(linear(x, Wg), linear(x, Wu)) => fused_gate_up(x, Wg, Wu)
struct FuseGateUp : FusionPattern<SwigluOp> {
  FuseGateUp(MLIRContext *ctx, const FusionReporter &report)
      : FusionPattern(ctx, report, /*benefit=*/2) {}

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
        op, type, gate.getInput(), gate.getWeight(), up.getWeight(),
        /*norm_weight=*/Value(), /*norm_epsilon=*/FloatAttr());
    report(fused, "rotor.swiglu of two rotor.linear into one kernel", type, 4);
    return success();
  }
};

/// Whether `user` takes `norm`'s result as the input of a linear kernel that
/// can take the norm into its prologue: a rotor.linear, or a fused op
/// without a prologue yet, with static weights (the matmul kernel's
/// condition; others would recompute the norm per consumer).
bool canTakeNormPrologue(OpOperand &use) {
  Operation *user = use.getOwner();
  auto isStatic = [](Value w) {
    return cast<RankedTensorType>(w.getType()).hasStaticShape();
  };
  if (use.getOperandNumber() != 0)
    return false;
  if (auto linear = dyn_cast<LinearOp>(user))
    return isStatic(linear.getWeight());
  if (auto fused = dyn_cast<FusedLinearOp>(user))
    return !fused.getNormWeight() && isStatic(fused.getWeight());
  if (auto gateUp = dyn_cast<FusedGateUpOp>(user))
    return !gateUp.getNormWeight() && isStatic(gateUp.getGateWeight()) &&
           isStatic(gateUp.getUpWeight());
  return false;
}

/// y_i = linear-or-fused_i(rms_norm(x, g), W_i, ...) for every use i =>
///   y_i = fused_i(x, W_i, ..., rms_norm g)
///
/// Legal when every use of the norm is such an input (a norm also used
/// elsewhere would have to be computed anyway). The kernels compute
/// r · (x · diag(g) · W_iᵀ), r = 1/sqrt(mean(x²) + eps) per row, with g
/// multiplied into the weights while they are packed: g and W_i stay
/// runtime inputs (nothing is folded at compile time), and the normalized
/// x is never written.
struct FuseNormPrologue : FusionPattern<RmsNormOp> {
  using FusionPattern::FusionPattern;

  LogicalResult matchAndRewrite(RmsNormOp norm,
                                PatternRewriter &rewriter) const override {
    if (norm->use_empty() || !llvm::all_of(norm->getUses(), canTakeNormPrologue))
      return rewriter.notifyMatchFailure(
          norm, "a use is not the input of a linear kernel with static "
                "weights and no norm prologue");
    Value x = norm.getInput(), g = norm.getWeight();
    FloatAttr eps = norm.getEpsilonAttr();
    SmallVector<Operation *> users(norm->getUsers());
    for (Operation *user : users) {
      rewriter.setInsertionPoint(user);
      if (auto linear = dyn_cast<LinearOp>(user)) {
        rewriter.replaceOpWithNewOp<FusedLinearOp>(
            linear, linear.getType(), x, linear.getWeight(), linear.getBias(),
            /*residual=*/Value(), g, Activation::none, eps);
      } else if (auto fused = dyn_cast<FusedLinearOp>(user)) {
        rewriter.modifyOpInPlace(fused, [&] {
          fused.getInputMutable().assign(x);
          fused.getNormWeightMutable().assign(g);
          fused.setNormEpsilonAttr(eps);
        });
      } else {
        auto gateUp = cast<FusedGateUpOp>(user);
        rewriter.modifyOpInPlace(gateUp, [&] {
          gateUp.getInputMutable().assign(x);
          gateUp.getNormWeightMutable().assign(g);
          gateUp.setNormEpsilonAttr(eps);
        });
      }
    }
    // The normalized tensor was written once and read by every user.
    auto type = cast<RankedTensorType>(norm.getType());
    std::string what = "rotor.rms_norm into the prologue of " +
                       std::to_string(users.size()) + " linear kernel(s)";
    report(norm, what, type, 1 + static_cast<int64_t>(users.size()));
    rewriter.eraseOp(norm);
    return success();
  }
};

struct FuseLinearPass : rotor::impl::RotorFuseLinearBase<FuseLinearPass> {
  using Base::Base;
  void runOnOperation() override {
    FusionReporter reporter{report};
    RewritePatternSet epilogues(&getContext());
    epilogues.add<FuseGateUp, FuseActivation, FuseResidual>(&getContext(),
                                                             reporter);
    if (failed(applyPatternsGreedily(getOperation(), std::move(epilogues))))
      return signalPassFailure();
    // Norms go into prologues once the epilogues are settled, so that a
    // gate/up pair is one fused_gate_up (one use of the norm) first.
    if (!normPrologue)
      return;
    RewritePatternSet prologues(&getContext());
    prologues.add<FuseNormPrologue>(&getContext(), reporter);
    if (failed(applyPatternsGreedily(getOperation(), std::move(prologues))))
      signalPassFailure();
  }
};

} // namespace
