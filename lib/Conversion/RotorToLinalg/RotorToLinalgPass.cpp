//===- RotorToLinalgPass.cpp - The convert-rotor-to-linalg pass -------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/Conversion/Passes.h"
#include "rotor/Conversion/RotorToLinalg.h"
#include "rotor/Dialect/Rotor/RotorDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::rotor {
#define GEN_PASS_DEF_CONVERTROTORTOLINALG
#include "rotor/Conversion/Passes.h.inc"
} // namespace mlir::rotor

using namespace mlir;
using namespace mlir::rotor;

namespace {
struct ConvertRotorToLinalgPass
    : rotor::impl::ConvertRotorToLinalgBase<ConvertRotorToLinalgPass> {
  using Base::Base;

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    if (attentionBlockQ < 1 || attentionBlockK < 1) {
      getOperation().emitError()
          << "attention tile sizes must be >= 1, got attention-block-q="
          << attentionBlockQ << " and attention-block-k=" << attentionBlockK;
      return signalPassFailure();
    }
    RewritePatternSet patterns(ctx);
    populateElementwiseToLinalgPatterns(patterns);
    populateNormsToLinalgPatterns(patterns);
    populateLayersToLinalgPatterns(patterns, vectorMatmul, parallelLoops);
    populateRotationsToLinalgPatterns(patterns, vectorMatmul, parallelLoops);
    populateAttentionToLoopsPatterns(
        patterns,
        AttentionTiling{attentionBlockQ, attentionBlockK, parallelLoops});

    ConversionTarget target(*ctx);
    target.addIllegalDialect<RotorDialect>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
