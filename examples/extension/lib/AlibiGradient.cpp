//===- AlibiGradient.cpp - The VJP of alibi.attention ----------------------===//
//
// Part of the Rotor project: the out-of-tree extension example.
//
//===----------------------------------------------------------------------===//
//
// rotor::DifferentiableOpInterface for alibi.attention, attached as an
// external model (the op's ODS does not change): rotor-autodiff calls
// buildVjp, which emits alibi.attention_grad with the forward op's operands
// and attributes. The ALiBi bias is a constant of the attributes (slopes,
// max_bias, mask), so the rule gives cotangents for query, key and value
// only; convert-alibi-to-linalg lowers alibi.attention_grad.
//
//===----------------------------------------------------------------------===//

#include "alibi/AlibiOps.h"

#include "rotor/Dialect/Rotor/RotorOps.h"

using namespace mlir;
using namespace mlir::alibi;

namespace {

struct AttentionVjp
    : rotor::DifferentiableOpInterface::ExternalModel<AttentionVjp,
                                                      AttentionOp> {
  LogicalResult buildVjp(Operation *op, OpBuilder &b, ValueRange dOut,
                         SmallVectorImpl<Value> &dOperands) const {
    auto attention = cast<AttentionOp>(op);
    dOperands.assign(op->getNumOperands(), Value());
    // Nothing depends on the output: the operands get no cotangent (the
    // pass reads a null entry as zero).
    if (!dOut[0])
      return success();
    auto grad = AttentionGradOp::create(
        b, op->getLoc(), attention.getQuery().getType(),
        attention.getKey().getType(), attention.getValue().getType(),
        attention.getQuery(), attention.getKey(), attention.getValue(),
        dOut[0], attention.getMaskAttr(), attention.getScaleAttr(),
        attention.getMaxBiasAttr(), attention.getSlopesAttr());
    dOperands[0] = grad.getQueryGrad();
    dOperands[1] = grad.getKeyGrad();
    dOperands[2] = grad.getValueGrad();
    return success();
  }
};

} // namespace

void mlir::alibi::registerAlibiGradients(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, AlibiDialect *) {
    AttentionOp::attachInterface<AttentionVjp>(*ctx);
  });
}
