//===- FuzzSafetensors.cpp - libFuzzer target for .safetensors ------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/io/Safetensors.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::unique_ptr<rotor::io::SafetensorsFile> file;
  if (rotor::io::SafetensorsFile::parse(data, size, "fuzz.safetensors", file) !=
      ROTOR_OK)
    return 0;
  // Every tensor the header validated must be readable in bounds.
  for (const rotor::io::SafetensorsTensorInfo &info : file->tensors()) {
    rotor::TensorPtr tensor;
    file->load(info.name, tensor);
  }
  return 0;
}
