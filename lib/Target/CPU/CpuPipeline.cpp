//===- CpuPipeline.cpp - The CPU compilation pipeline -----------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/Conversion/Passes.h"
#include "rotor/Target/CPU/CpuTarget.h"
#include "rotor/Target/CPU/Passes.h"
#include "rotor/Transforms/Passes.h"

#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

#include "llvm/Support/ErrorHandling.h"

using namespace mlir;
using namespace mlir::rotor;

/// Adds the passes of a textual pipeline (all upstream, all registered).
static void addPipeline(OpPassManager &pm, StringRef text) {
  if (failed(parsePassPipeline(text, pm)))
    llvm::report_fatal_error("rotor: invalid built-in pass pipeline");
}

void mlir::rotor::buildCpuPipeline(OpPassManager &pm, CpuStage from,
                                   CpuStage to,
                                   const CpuPipelineOptions &options) {
  auto wants = [&](CpuStage s) { return s > from && s <= to; };
  if (wants(CpuStage::Opt)) {
    pm.addPass(createCanonicalizerPass());
    pm.addPass(createCSEPass());
    if (options.specializeMasks) {
      RotorSpecializeMasksOptions masks;
      masks.report = options.fusionReport;
      pm.addPass(createRotorSpecializeMasks(masks));
    }
    if (options.dilationRelayout) {
      RotorDilationRelayoutOptions relayout;
      relayout.report = options.fusionReport;
      pm.addPass(createRotorDilationRelayout(relayout));
    }
    if (options.moveKeyRotations) {
      RotorMoveKeyRotationsOptions move;
      move.report = options.fusionReport;
      pm.addPass(createRotorMoveKeyRotations(move));
    }
    if (options.packGqaHeads) {
      RotorPackGqaHeadsOptions pack;
      pack.maxQueries = options.attentionBlockQ;
      pack.report = options.fusionReport;
      pm.addPass(createRotorPackGqaHeads(pack));
    }
    if (options.fuse) {
      RotorFuseLinearOptions fusion;
      fusion.report = options.fusionReport;
      pm.addPass(createRotorFuseLinear(fusion));
      // Before the rope: the fused op applies its query rope first.
      if (options.fuseAttentionRotations) {
        RotorFuseAttentionRotationsOptions rotations;
        rotations.report = options.fusionReport;
        pm.addPass(createRotorFuseAttentionRotations(rotations));
      }
      if (options.fuseAttentionRope) {
        RotorFuseAttentionRopeOptions rope;
        rope.keys = options.fuseKeyRope;
        rope.report = options.fusionReport;
        pm.addPass(createRotorFuseAttentionRope(rope));
      }
    }
    // After the moves (equal chains cancel) and the fusion into attention
    // (no rotated copy at all): what is left is composed.
    if (options.composeRotations) {
      RotorComposeRotationsOptions compose;
      compose.report = options.fusionReport;
      pm.addPass(createRotorComposeRotations(compose));
    }
  }
  if (wants(CpuStage::Linalg)) {
    pm.addPass(createRotorPrepareEntries());
    ConvertRotorToLinalgOptions lowering;
    lowering.attentionBlockQ = options.attentionBlockQ;
    lowering.attentionBlockK = options.attentionBlockK;
    lowering.parallelLoops = options.parallel;
    pm.addPass(createConvertRotorToLinalg(lowering));
    pm.addPass(createCanonicalizerPass());
    // Elementwise arith/math ops on tensors (written by users or frontends)
    // become linalg too, then chains of elementwise generics fuse.
    addPipeline(pm, "func.func(convert-elementwise-to-linalg,"
                    "linalg-fuse-elementwise-ops)");
    pm.addPass(createCSEPass());
  }
  if (wants(CpuStage::Llvm)) {
    addPipeline(pm, "one-shot-bufferize{bufferize-function-boundaries "
                    "function-boundary-type-conversion=identity-layout-map}");
    // The ownership-based deallocation pipeline without its simplification
    // pass, which costs a second on a 32-layer model (it grows with the
    // number of buffers per function) for little effect on our code.
    addPipeline(pm, "expand-realloc{emit-deallocs=false},canonicalize,"
                    "ownership-based-buffer-deallocation,canonicalize,"
                    "bufferization-lower-deallocations,cse,canonicalize");
    addPipeline(pm, "convert-bufferization-to-memref,"
                    "rotor-expand-memref-copies,"
                    "func.func(convert-linalg-to-loops),"
                    "rotor-approximate-math,"
                    "canonicalize,cse,"
                    "arith-expand{include-bf16=true},"
                    "convert-scf-to-openmp,"
                    "convert-scf-to-cf,expand-strided-metadata,lower-affine,"
                    "convert-vector-to-llvm,finalize-memref-to-llvm,"
                    "convert-math-to-llvm,convert-math-to-libm,"
                    // math-to-libm unrolls vector math without an LLVM
                    // intrinsic (erf of a fused GELU epilogue in f64) into
                    // vector.extract/insert, lowered here.
                    "convert-vector-to-llvm,"
                    "convert-arith-to-llvm,convert-cf-to-llvm,"
                    "convert-index-to-llvm,convert-func-to-llvm,"
                    "convert-openmp-to-llvm,"
                    "reconcile-unrealized-casts,rotor-emit-entry-wrappers");
  }
}
