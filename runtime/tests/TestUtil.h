//===- TestUtil.h - Helpers shared by the runtime tests ---------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_TESTS_TESTUTIL_H
#define ROTOR_TESTS_TESTUTIL_H

#include "rotor/Handles.h"
#include "rotor/runtime.h"

#include <string>
#include <vector>

namespace rotor::test {

/// A fresh directory under $TMPDIR (or /tmp), removed with its contents on
/// destruction.
class TempDir {
public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;

  const std::string &path() const { return dir; }
  /// `path()` + "/" + `name`.
  std::string file(const std::string &name) const;

private:
  std::string dir;
};

/// Writes `bytes` to `path`, replacing it.
void writeFile(const std::string &path, const std::string &bytes);

/// Reads the whole file at `path`.
std::string readFileBytes(const std::string &path);

/// Whether `path` exists.
bool exists(const std::string &path);

/// The test artifact library (TestArtifact.c), and its variant without
/// rotor_free.
std::string testLibrary();
std::string testLibraryWithoutFree();

/// The manifest describing every entry of TestArtifact.c.
std::string standardManifest();

/// A manifest with only the `add` entry, under `entryName`.
std::string addOnlyManifest(const std::string &entryName = "add");

/// Creates directory `name` in `root` holding `manifest` as manifest.json
/// and a copy of `library` as module.so (skipped if `library` is empty).
/// Returns the directory.
std::string makeArtifact(const TempDir &root, const std::string &name,
                         const std::string &manifest,
                         const std::string &library = testLibrary());

/// Creates an owned tensor of `dtype` and `shape` holding `values`
/// (converted to the dtype; bf16 and f16 rounded).
TensorPtr makeTensor(rotor_dtype dtype, const std::vector<int64_t> &shape,
                     const std::vector<double> &values);

/// The elements of `tensor` as doubles.
std::vector<double> tensorValues(const rotor_tensor *tensor);

} // namespace rotor::test

#endif // ROTOR_TESTS_TESTUTIL_H
