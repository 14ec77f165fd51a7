//===- RunInputs.h - Building entry inputs for rotor-run --------*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Gathers one tensor per entry input from .npy files (--input NAME=FILE),
// one .safetensors file (--inputs=FILE, tensor names = input names) and,
// for the rest, seeded random data (--random-inputs, --seed, --shape).
// Inputs that are tensors of the artifact's weights file and are not given
// by a file are left out: the runtime binds them (rotor_call_named).
//
// Random data: one std::mt19937_64 seeded with --seed draws one 64-bit
// number x per element, inputs in manifest order, elements in row-major
// order. A float dtype with p significant bits (f64 53, f32 24, f16 11,
// bf16 8) gets 2 * (x >> (64 - p)) * 2^-p - 1, uniform in [-1, 1) and exact
// in that dtype; integers get x >> 60, uniform in [0, 16).
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_TOOLS_RUNINPUTS_H
#define ROTOR_TOOLS_RUNINPUTS_H

#include "rotor/Handles.h"
#include "rotor/io/Safetensors.h"
#include "rotor/runtime.h"

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace rotor::tool {

struct InputOptions {
  /// --input values, "NAME=FILE.npy".
  std::vector<std::string> npyInputs;
  /// --inputs value, or empty.
  std::string safetensorsPath;
  /// --shape values, "NAME=2x37x64".
  std::vector<std::string> shapes;
  bool random = false;
  uint64_t seed = 0;
  /// Read '<u2' .npy arrays as bf16 bit patterns.
  bool bf16AsU2 = false;
};

/// The inputs of one call, by name, in manifest order, without the weights
/// left to the runtime. Tensors may view `file`.
struct InputSet {
  std::unique_ptr<io::SafetensorsFile> file;
  std::vector<std::string> names;
  std::vector<TensorPtr> tensors;

  std::vector<const rotor_tensor *> pointers() const;
  /// `names` as C strings (valid while this object lives).
  std::vector<const char *> namePointers() const;
};

/// Builds the inputs of entry `entry` of `artifact` (random data is drawn
/// for the inputs in manifest order, skipping weights). On failure returns
/// false with a message in `error`.
bool buildInputs(const rotor_artifact *artifact, size_t entry,
                 const InputOptions &options, InputSet &inputs,
                 std::string &error);

/// Parses "2x37x64" into sizes ("" is rank 0).
bool parseShape(const std::string &text, std::vector<int64_t> &shape);

/// Fills `tensor` with random data as described above.
void fillRandom(rotor_tensor *tensor, std::mt19937_64 &rng);

} // namespace rotor::tool

#endif // ROTOR_TOOLS_RUNINPUTS_H
