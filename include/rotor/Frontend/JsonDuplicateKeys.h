//===- JsonDuplicateKeys.h - Finding repeated keys in JSON ------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// llvm::json::parse keeps the last of two equal keys in an object, as
// Python's json module does. A config.json or safetensors header that names a
// field or tensor twice is ambiguous, so the readers reject it; this scanner
// finds the first repeated key.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_FRONTEND_JSONDUPLICATEKEYS_H
#define ROTOR_FRONTEND_JSONDUPLICATEKEYS_H

#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace mlir::rotor {

/// The path of the first key that occurs twice in one object of `text`, such
/// as `rotor.attention[1].window` (a top-level key is its bare name), or
/// nullopt when there is none. `text` must be valid JSON (parse it first).
std::optional<std::string> findDuplicateJsonKey(llvm::StringRef text);

} // namespace mlir::rotor

#endif // ROTOR_FRONTEND_JSONDUPLICATEKEYS_H
