//===- FuzzWeightsCheck.cpp - libFuzzer target for rotorc --weights -------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Feeds arbitrary bytes, as a whole .safetensors file, to the check rotorc
// runs on --weights, against a small fixed model: a corrupt file must be
// rejected with a message naming it, never read out of bounds.
//
//===----------------------------------------------------------------------===//

#include "rotor/Frontend/Safetensors.h"

#include "llvm/Support/Error.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

using namespace mlir::rotor;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const std::vector<WeightSpec> weights = {
      {"a", {2, 3}, ModelDType::F32},
      {"b", {4}, ModelDType::BF16},
  };
  llvm::StringRef image(reinterpret_cast<const char *>(data), size);
  if (llvm::Error err = checkSafetensorsImage("w.safetensors", image, weights)) {
    std::string message = llvm::toString(std::move(err));
    if (!llvm::StringRef(message).starts_with("w.safetensors: "))
      std::abort();
  }
  return 0;
}
