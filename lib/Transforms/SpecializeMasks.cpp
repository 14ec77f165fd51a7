//===- SpecializeMasks.cpp - Simplify masks for static lengths --------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/Analysis/MaskTiling.h"
#include "rotor/Dialect/Rotor/RotorOps.h"
#include "rotor/Transforms/Passes.h"

#include "llvm/Support/raw_ostream.h"

namespace mlir::rotor {
#define GEN_PASS_DEF_ROTORSPECIALIZEMASKS
#include "rotor/Transforms/Passes.h.inc"
} // namespace mlir::rotor

using namespace mlir;
using namespace mlir::rotor;

namespace {

std::optional<int64_t> staticDim(Value v, unsigned d) {
  int64_t n = cast<RankedTensorType>(v.getType()).getDimSize(d);
  if (ShapedType::isDynamic(n))
    return std::nullopt;
  return n;
}

struct SpecializeMasksPass
    : rotor::impl::RotorSpecializeMasksBase<SpecializeMasksPass> {
  using Base::Base;
  void runOnOperation() override {
    getOperation()->walk([&](AttentionOp op) {
      MaskAttr mask = op.getMaskAttr();
      if (!mask)
        return;
      // With query_start only the first query_start + Sq keys exist: the
      // key count is known at run time only.
      MaskAttr simple =
          simplifyMask(mask, staticDim(op.getQuery(), 2),
                       op.getQueryStart() ? std::nullopt
                                          : staticDim(op.getKey(), 2),
                       /*keepCausal=*/static_cast<bool>(op.getBias()));
      if (simple == mask)
        return;
      if (report) {
        llvm::errs() << "rotor-specialize-masks: " << mask << " => ";
        if (simple.isFull())
          llvm::errs() << "no mask";
        else
          llvm::errs() << simple;
        llvm::errs() << " at " << op.getLoc() << "\n";
      }
      if (simple.isFull())
        op.removeMaskAttr();
      else
        op.setMaskAttr(simple);
    });
  }
};

} // namespace
