//===- FuzzModelConfig.cpp - libFuzzer target for config.json -------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Feeds arbitrary bytes to the config.json reader. Every input must either
// be rejected with a message naming the file or give a config that keeps the
// invariants the model builder relies on.
//
//===----------------------------------------------------------------------===//

#include "rotor/Frontend/ModelConfig.h"

#include "llvm/Support/Error.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

using namespace mlir::rotor;

namespace {
void check(bool ok) {
  if (!ok)
    std::abort();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  llvm::Expected<ModelConfig> config = parseModelConfig(text, "config.json");
  if (!config) {
    std::string message = llvm::toString(config.takeError());
    check(llvm::StringRef(message).starts_with("config.json: "));
    return 0;
  }
  check(config->hiddenSize > 0 && config->intermediateSize > 0);
  check(config->numLayers > 0 && config->vocabSize > 0);
  check(config->numHeads > 0 && config->numKvHeads > 0 &&
        config->numHeads % config->numKvHeads == 0);
  check(config->headDim > 0 && config->rotaryDim > 0 &&
        config->rotaryDim % 2 == 0 && config->rotaryDim <= config->headDim);
  check(static_cast<int64_t>(config->layers.size()) == config->numLayers);
  for (const LayerAttention &a : config->layers) {
    if (a.kind == AttentionKind::Sliding || a.kind == AttentionKind::Dilated ||
        a.kind == AttentionKind::Hybrid)
      check(a.window > 0);
    if (a.kind == AttentionKind::Chunked)
      check(a.chunk > 0);
    check(a.dilation > 0);
  }
  if (config->givens)
    for (auto [i, j] : config->givens->pairs)
      check(i >= 0 && j >= 0 && i < config->headDim && j < config->headDim &&
            i != j);
  return 0;
}
