//===- Manifest.h - The artifact manifest (manifest.json) -------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Reads and validates manifest.json, format version 1 (docs/artifact-abi.md).
// Validation is strict: every field is required (except the top-level
// "weights"), unknown fields are errors, and messages name the file, the
// field path and the rule, e.g.
//
//   art/manifest.json: entries[0].inputs[1].dtype: unknown dtype 'f8' ...
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_SRC_MANIFEST_H
#define ROTOR_SRC_MANIFEST_H

#include "rotor/runtime.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rotor {

/// One input or output of an entry. Dynamic dimensions are
/// ROTOR_DYNAMIC_DIM.
struct ArgSpec {
  std::string name;
  rotor_dtype dtype = ROTOR_F32;
  std::vector<int64_t> shape;
};

/// One entry point.
struct EntrySpec {
  std::string name;
  std::string symbol;
  std::vector<ArgSpec> inputs;
  std::vector<ArgSpec> outputs;
};

/// A validated manifest.
struct Manifest {
  /// "cpu" or "cuda": the device the artifact was compiled for.
  std::string target;
  /// A file name inside the artifact directory.
  std::string library;
  /// The optional "weights" field: a .safetensors file name inside the
  /// artifact directory, or empty if the artifact has no weights file.
  std::string weights;
  std::vector<EntrySpec> entries;
};

/// The manifest's file name inside an artifact directory.
constexpr const char *manifestFileName = "manifest.json";

/// The largest manifest accepted, in bytes.
constexpr size_t maxManifestBytes = size_t(16) << 20;

/// Parses and validates manifest text. `fileName` prefixes messages.
/// Returns ROTOR_ERR_FORMAT for malformed or invalid manifests and
/// ROTOR_ERR_UNSUPPORTED for a format version other than 1.
rotor_status parseManifest(std::string_view text, const std::string &fileName,
                           Manifest &out);

/// Reads and validates `dir`/manifest.json.
rotor_status readManifest(const std::string &dir, Manifest &out);

/// True if `name` is a valid entry or argument name: 1 to 256 characters
/// from [A-Za-z0-9_.-], not starting with '.' or '-' (so that it is a safe
/// file name).
bool isValidArgName(std::string_view name);

} // namespace rotor

#endif // ROTOR_SRC_MANIFEST_H
