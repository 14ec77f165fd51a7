//===- Artifact.h - The rotor_artifact object -------------------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_SRC_ARTIFACT_H
#define ROTOR_SRC_ARTIFACT_H

#include "Backend.h"
#include "Manifest.h"
#include "rotor/runtime.h"

#include <memory>
#include <string>

struct rotor_artifact {
  /// The directory it was loaded from, as given.
  std::string dir;
  rotor::Manifest manifest;
  /// Declared after the manifest, which it refers to: destroyed first.
  std::unique_ptr<rotor::Backend> backend;
};

#endif // ROTOR_SRC_ARTIFACT_H
