//===- Artifact.h - The rotor_artifact object -------------------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_SRC_ARTIFACT_H
#define ROTOR_SRC_ARTIFACT_H

#include "Backend.h"
#include "Manifest.h"
#include "rotor/Handles.h"
#include "rotor/io/Safetensors.h"
#include "rotor/runtime.h"

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace rotor {

/// The artifact's weights file (the manifest's "weights"), mapped and
/// validated at load time.
struct WeightSet {
  /// `dir`/NAME, or empty if the artifact has no weights file.
  std::string path;
  std::unique_ptr<io::SafetensorsFile> file;
  /// One tensor per tensor of the file of a dtype the runtime supports
  /// (others are skipped), in header order, and its name: a view of the
  /// mapping (zero-copy) where the data is aligned to its element size, an
  /// owned aligned copy otherwise. Destroyed before `file`.
  std::vector<std::string> names;
  std::vector<TensorPtr> tensors;
  std::unordered_map<std::string, size_t> index;

  /// The tensor named `name`, or nullptr.
  const rotor_tensor *find(const std::string &name) const;
};

/// Maps and validates `dir`/`manifest.weights` (if the manifest names one):
/// the .safetensors layout, and every tensor named like an entry input
/// having a supported dtype and fitting that input's dtype and shape. Fills
/// `bindings[e][i]` with the weight bound to input `i` of entry `e` (nullptr
/// for data inputs).
rotor_status
loadWeights(const std::string &dir, const Manifest &manifest, WeightSet &out,
            std::vector<std::vector<const rotor_tensor *>> &bindings);

/// "1 input (x)" / "2 inputs (q, k)": `args` counted and listed as `kind`.
std::string describeArgs(const std::vector<ArgSpec> &args, const char *kind);

/// Checks `tensor` for input `index` of `entry` against its manifest
/// declaration (not NULL, dtype, rank, static sizes).
rotor_status checkEntryInput(const EntrySpec &entry, size_t index,
                             const rotor_tensor *tensor);

/// Binds the inputs of entry `index` of `artifact` for a call by name
/// (rotor_call_named, rotor_session_call): `tensors[k]` to the input named
/// `names[k]`, for k < `count`, then every input left out to the weight of
/// its name. Inputs marked in `stateInputs` (a session's states; may be
/// empty) must not be named and stay nullptr. Errors name the entry and the
/// input: an unknown, repeated or NULL name, a NULL tensor, an input neither
/// given nor a weight. The tensors are not checked (checkEntryInput).
rotor_status bindNamedInputs(const rotor_artifact *artifact, size_t index,
                             const char *const *names,
                             const rotor_tensor *const *tensors, size_t count,
                             const std::vector<bool> &stateInputs,
                             std::vector<const rotor_tensor *> &bound);

} // namespace rotor

struct rotor_artifact {
  /// The directory it was loaded from, as given.
  std::string dir;
  rotor::Manifest manifest;
  rotor::WeightSet weights;
  /// weightInputs[e][i]: the weight bound to input i of entry e when a
  /// named call omits it, or nullptr.
  std::vector<std::vector<const rotor_tensor *>> weightInputs;
  /// Declared after the manifest, which it refers to: destroyed first.
  std::unique_ptr<rotor::Backend> backend;
};

#endif // ROTOR_SRC_ARTIFACT_H
