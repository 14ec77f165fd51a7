//===- rotor-opt.cpp - The rotor optimizer driver ---------------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Like mlir-opt: reads MLIR, runs passes, prints MLIR. Registers the rotor
// dialect, the upstream dialects Rotor lowers to, every upstream pass and
// every Rotor pass and pipeline.
//
//===----------------------------------------------------------------------===//

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

#include "rotor/Conversion/Passes.h"
#include "rotor/Dialect/Rotor/RotorDialect.h"
#include "rotor/Dialect/Rotor/RotorOps.h"
#include "rotor/Target/CPU/Passes.h"
#include "rotor/Transforms/Passes.h"

using namespace mlir;

int main(int argc, char **argv) {
  registerAllPasses();
  rotor::registerRotorConversionPasses();
  rotor::registerRotorCpuPasses();
  rotor::registerRotorTransformsPasses();
  PassPipelineRegistration<>(
      "rotor-optimize",
      "Rotor's target-independent optimizations: canonicalize (folds, "
      "rotation composition), CSE, mask specialization and fusion "
      "(rotor-specialize-masks, rotor-dilation-relayout, "
      "rotor-move-key-rotations, rotor-pack-gqa-heads, rotor-fuse-linear, "
      "rotor-fuse-attention-rotations, rotor-fuse-attention-rope, "
      "rotor-compose-rotations)",
      [](OpPassManager &pm) {
        pm.addPass(createCanonicalizerPass());
        pm.addPass(createCSEPass());
        pm.addPass(rotor::createRotorSpecializeMasks());
        pm.addPass(rotor::createRotorDilationRelayout());
        pm.addPass(rotor::createRotorMoveKeyRotations());
        pm.addPass(rotor::createRotorPackGqaHeads());
        pm.addPass(rotor::createRotorFuseLinear());
        pm.addPass(rotor::createRotorFuseAttentionRotations());
        pm.addPass(rotor::createRotorFuseAttentionRope());
        pm.addPass(rotor::createRotorComposeRotations());
      });

  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registry.insert<rotor::RotorDialect>();
  rotor::registerDifferentiableOpInterfaceExternalModels(registry);
  return asMainReturnCode(
      MlirOptMain(argc, argv, "Rotor optimizer driver\n", registry));
}
