//===- FuzzNpy.cpp - libFuzzer target for .npy reading --------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/io/Npy.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rotor::TensorPtr tensor;
  rotor::io::NpyReadOptions options;
  options.u2AsBF16 = size % 2 == 1;
  rotor::io::readNpyFromMemory(data, size, "fuzz.npy", tensor, options);
  return 0;
}
