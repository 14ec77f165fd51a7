//===- ModelBuilder.h - Rotor IR of a whole decoder model -------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Builds the rotor IR of a decoder-only model described by a ModelConfig: the
// entry points `forward`, `prefill` and `decode` (docs/model-artifacts.md),
// which take the weights as arguments named with their Hugging Face names, and
// one private function per distinct layer kind that the entries call once per
// layer.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_FRONTEND_MODELBUILDER_H
#define ROTOR_FRONTEND_MODELBUILDER_H

#include "rotor/Frontend/ModelConfig.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <string>
#include <vector>

namespace mlir::rotor {

/// A weight of the model: an argument of every entry point.
struct WeightSpec {
  /// The Hugging Face name, e.g. "model.layers.0.self_attn.q_proj.weight".
  std::string name;
  std::vector<int64_t> shape;
  ModelDType dtype = ModelDType::F32;
};

/// The rotor IR of a model and the weights its entries take, in argument
/// order.
struct ModelModule {
  OwningOpRef<ModuleOp> module;
  std::vector<WeightSpec> weights;
};

/// The weights of `config`, in the order the entries take them.
std::vector<WeightSpec> getModelWeights(const ModelConfig &config);

/// What buildModelModule builds besides `forward`, `prefill` and `decode`.
struct ModelBuildOptions {
  /// Also build `decode_static`: a decoding step over fixed-capacity caches
  /// written in place at `cache_position` (docs/model-artifacts.md), whose
  /// shapes do not change from step to step (CUDA graphs replay it).
  bool staticCache = false;
};

/// Builds the module for `config` in `context`, loading the dialects it
/// uses, and verifies it. Fails (after emitting a diagnostic) only when the
/// built module does not verify, which a validated config never causes.
FailureOr<ModelModule> buildModelModule(MLIRContext *context,
                                        const ModelConfig &config,
                                        const ModelBuildOptions &options = {});

/// Adds `@name(input_ids, labels, weights...) -> loss`, the mean
/// cross-entropy of `forward`'s logits against `labels` (ignore index -100),
/// to a module built by buildModelModule. Its body is `forward`'s, so the
/// per-layer calls stay top-level calls (the layer checkpointing policy of
/// rotor-autodiff works on them). Differentiating it gives the training
/// entry `train_step` (docs/autodiff.md).
LogicalResult addTrainLossFunction(ModuleOp module, llvm::StringRef name);

} // namespace mlir::rotor

#endif // ROTOR_FRONTEND_MODELBUILDER_H
