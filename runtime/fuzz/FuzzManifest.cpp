//===- FuzzManifest.cpp - libFuzzer target for manifest.json --------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "Manifest.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rotor::Manifest manifest;
  rotor::parseManifest(
      std::string_view(reinterpret_cast<const char *>(data), size),
      "manifest.json", manifest);
  return 0;
}
