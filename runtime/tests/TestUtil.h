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
#include <utility>
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

/// The manifest of the tiny language model of TestArtifact.c: entries
/// prefill, decode and forward (symbols named by `symbols`, e.g. to swap in
/// rotor_entry_lm_nan), with the top-level fields `extra` spliced in
/// (by default the weights file).
std::string
lmManifest(const std::string &extra = R"(, "weights": "weights.safetensors")",
           const std::string &forwardSymbol = "rotor_entry_lm_forward");

/// The tiny language model's weights: table (i64[16], table[i] =
/// (5i + 3) mod 15 + 1, never 0, so that the context sum always grows) and
/// bias (f32[16], bias[v] = v / 1024).
std::vector<std::pair<std::string, TensorPtr>> lmWeights();

/// Writes lmWeights() to `dir`/weights.safetensors.
void writeLmWeights(const std::string &dir);

/// The `count` tokens the tiny language model generates greedily after
/// `prompt`.
std::vector<int64_t> lmExpected(const std::vector<int64_t> &prompt,
                                size_t count);

/// The manifest of the session tests: entry accumulate of TestArtifact.c
/// (states total and count, weight scale), entries declaring the same
/// symbol with a state output that does not match its input (bad_dtype,
/// bad_rank, bad_size), and broken, whose state output has the wrong size
/// (the misbehave symbol).
std::string sessionManifest();

/// Writes the session tests' weights to `dir`/weights.safetensors: scale
/// (f32[3]) = sessionScale.
void writeSessionWeights(const std::string &dir);
inline constexpr float sessionScale[3] = {1.0f, 2.0f, 0.5f};

/// Creates directory `name` in `root` holding `manifest` as manifest.json
/// and a copy of `library` as module.so (skipped if `library` is empty).
/// Returns the directory.
std::string makeArtifact(const TempDir &root, const std::string &name,
                         const std::string &manifest,
                         const std::string &library = testLibrary());

/// The trainable artifact library (TrainArtifact.c).
std::string trainLibrary();

/// Which entry of TrainArtifact.c a train artifact's train_step is.
enum class TrainVariant {
  /// The copy model: input_ids, labels, embedding, gates.
  Plain,
  /// The copy model with a loss_scale input (f16 overflow emulated).
  Scaled,
  /// The RoPE base problem: input_ids, labels, embedding, rope.base.
  Rope,
};

/// Sizes of the train artifact's model.
constexpr int64_t trainVocab = 8, trainHidden = 16, trainGates = 8;

/// The manifest of a train artifact of `variant`.
std::string trainManifest(TrainVariant variant);

/// Creates artifact `name` in `root`: trainManifest(variant), TrainArtifact.c
/// and weights.safetensors with seeded random initial values (embedding
/// N(0, 0.5), gates N(0, 0.2); the RoPE base 10000).
std::string makeTrainArtifact(const TempDir &root, const std::string &name,
                              TrainVariant variant = TrainVariant::Plain,
                              uint64_t seed = 1);

/// What a run of rotor-run printed.
struct ToolResult {
  int exitCode = -1;
  std::string out;
  std::string err;
};

/// Runs rotor-run with `args`, capturing stdout and stderr in files of
/// `scratch`.
ToolResult runRotorRun(const std::vector<std::string> &args,
                       const TempDir &scratch);

/// Creates an owned tensor of `dtype` and `shape` holding `values`
/// (converted to the dtype; bf16 and f16 rounded).
TensorPtr makeTensor(rotor_dtype dtype, const std::vector<int64_t> &shape,
                     const std::vector<double> &values);

/// The elements of `tensor` as doubles.
std::vector<double> tensorValues(const rotor_tensor *tensor);

} // namespace rotor::test

#endif // ROTOR_TESTS_TESTUTIL_H
