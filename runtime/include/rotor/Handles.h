//===- Handles.h - RAII owners for runtime C API objects --------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// std::unique_ptr aliases that free rotor_tensor, rotor_artifact and
// rotor_session objects, and a few helpers on tensors that C++ users of the
// runtime share.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_HANDLES_H
#define ROTOR_HANDLES_H

#include "rotor/runtime.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rotor {

/// Calls rotor_tensor_free.
struct TensorDeleter {
  void operator()(rotor_tensor *tensor) const { rotor_tensor_free(tensor); }
};

/// Calls rotor_artifact_free.
struct ArtifactDeleter {
  void operator()(rotor_artifact *artifact) const {
    rotor_artifact_free(artifact);
  }
};

/// Calls rotor_session_free.
struct SessionDeleter {
  void operator()(rotor_session *session) const { rotor_session_free(session); }
};

/// An owning tensor handle.
using TensorPtr = std::unique_ptr<rotor_tensor, TensorDeleter>;

/// An owning artifact handle.
using ArtifactPtr = std::unique_ptr<rotor_artifact, ArtifactDeleter>;

/// An owning session handle (free it before the artifact).
using SessionPtr = std::unique_ptr<rotor_session, SessionDeleter>;

/// The shape of `tensor` as a vector.
std::vector<int64_t> tensorShape(const rotor_tensor *tensor);

/// Formats `shape` as "2x37x64" ("" for rank 0). Negative sizes (dynamic
/// dimensions) print as "?".
std::string formatShape(const std::vector<int64_t> &shape);

/// Formats `shape` as "[2, ?, 64]" ("[]" for rank 0).
std::string formatShapeList(const std::vector<int64_t> &shape);

} // namespace rotor

#endif // ROTOR_HANDLES_H
