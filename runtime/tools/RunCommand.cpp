//===- RunCommand.cpp - The `run` subcommand of rotor-run -----------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
//   rotor-run [run] ARTIFACT_DIR [--entry=NAME] [--input NAME=FILE.npy ...]
//       [--inputs=FILE.safetensors] [--random-inputs] [--seed=N]
//       [--shape NAME=2x37x64 ...] [-o OUT] [--repeat=N]
//       [--device=cpu|cuda] [--bf16-as-u2] [--list]
//
// Loads the artifact, builds the entry's inputs, calls it (N times with
// --repeat, printing timings) and writes or summarizes the outputs.
//
//===----------------------------------------------------------------------===//

#include "CommandLine.h"
#include "RunInputs.h"
#include "Subcommands.h"
#include "TensorSummary.h"
#include "rotor/Handles.h"
#include "rotor/io/Npy.h"
#include "rotor/io/Safetensors.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <system_error>

using namespace rotor;
using namespace rotor::tool;
using OptionKind = OptionSpec::Kind;

namespace {

std::vector<OptionSpec> runOptions() {
  return {
      {"entry", OptionKind::Value, "NAME",
       "entry to run (default: the only entry, or 'forward')"},
      {"input", OptionKind::List, "NAME=FILE.npy",
       "read input NAME from a .npy file (repeatable)"},
      {"inputs", OptionKind::Value, "FILE.safetensors",
       "read inputs from a .safetensors file, tensors named like the inputs"},
      {"random-inputs", OptionKind::Flag, "",
       "fill inputs not given by a file with seeded random data (floats in "
       "[-1, 1), integers in [0, 16))"},
      {"seed", OptionKind::Value, "N", "seed of --random-inputs (default 0)"},
      {"shape", OptionKind::List, "NAME=2x37x64",
       "shape of a random input (needed for dynamic dimensions; repeatable)"},
      {"o", OptionKind::Value, "OUT",
       "write outputs: OUT.safetensors (all, by name), OUT.npy (a single "
       "output) or a directory OUT holding NAME.npy per output"},
      {"repeat", OptionKind::Value, "N",
       "call the entry N times and print min/median/mean time"},
      {"device", OptionKind::Value, "cpu|cuda",
       "device to run on (default cpu)"},
      {"bf16-as-u2", OptionKind::Flag, "",
       "store bf16 in .npy files as '<u2' bit patterns (read and write) "
       "instead of as f32"},
      {"list", OptionKind::Flag, "",
       "list the entries and their signatures, marking inputs bound to the "
       "weights file"},
      {"help", OptionKind::Flag, "", "print this help"},
  };
}

bool endsWith(const std::string &text, const std::string &suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// "name: f32[2, ?, 64]".
std::string describeArg(const rotor_arg_info &info) {
  std::vector<int64_t> shape(info.shape, info.shape + info.rank);
  return std::string(info.name) + ": " + rotor_dtype_name(info.dtype) +
         formatShapeList(shape);
}

/// Prints each entry as "name(x: f32[2, ?, 64]) -> (y: f32[2, ?, 64])",
/// after a line naming the weights file if there is one; inputs bound to the
/// weights file are marked "(weights)".
void listEntries(const rotor_artifact *artifact) {
  if (const char *weights = rotor_artifact_weights_path(artifact)) {
    size_t count = rotor_artifact_num_weights(artifact);
    std::cout << "weights: " << weights << " (" << count
              << (count == 1 ? " tensor" : " tensors")
              << "; inputs marked (weights) are bound to it unless given)\n";
  }
  for (size_t e = 0; e < rotor_artifact_num_entries(artifact); ++e) {
    std::cout << rotor_artifact_entry_name(artifact, e) << "(";
    for (size_t i = 0; i < rotor_entry_num_inputs(artifact, e); ++i) {
      rotor_arg_info info;
      rotor_entry_input(artifact, e, i, &info);
      std::cout << (i ? ", " : "") << describeArg(info)
                << (rotor_entry_input_is_weight(artifact, e, i) ? " (weights)"
                                                                : "");
    }
    std::cout << ") -> (";
    for (size_t j = 0; j < rotor_entry_num_outputs(artifact, e); ++j) {
      rotor_arg_info info;
      rotor_entry_output(artifact, e, j, &info);
      std::cout << (j ? ", " : "") << describeArg(info);
    }
    std::cout << ")\n";
  }
}

/// Picks the entry: --entry, else the only one, else 'forward'.
bool chooseEntry(const rotor_artifact *artifact, const std::string &requested,
                 size_t &index, std::string &error) {
  if (!requested.empty()) {
    if (rotor_artifact_find_entry(artifact, requested.c_str(), &index) !=
        ROTOR_OK) {
      error = rotor_last_error();
      return false;
    }
    return true;
  }
  size_t count = rotor_artifact_num_entries(artifact);
  if (count == 1) {
    index = 0;
    return true;
  }
  if (rotor_artifact_find_entry(artifact, "forward", &index) == ROTOR_OK)
    return true;
  std::string names;
  for (size_t e = 0; e < count; ++e)
    names +=
        (e ? ", " : "") + std::string(rotor_artifact_entry_name(artifact, e));
  error = "the artifact has " + std::to_string(count) + " entries (" + names +
          ") and none is named 'forward'; choose one with --entry=NAME";
  return false;
}

bool parseCount(const std::string &text, uint64_t &value) {
  const char *first = text.data(), *last = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(first, last, value);
  return first != last && ec == std::errc() && ptr == last;
}

/// Writes the outputs to `out` (see the -o help).
bool writeOutputs(const std::string &out, const std::vector<std::string> &names,
                  const std::vector<TensorPtr> &outputs, bool bf16AsU2,
                  std::string &error) {
  io::NpyWriteOptions npyOptions;
  npyOptions.bf16AsU2 = bf16AsU2;
  if (endsWith(out, ".safetensors")) {
    std::vector<io::NamedTensor> named;
    for (size_t j = 0; j < outputs.size(); ++j)
      named.push_back({names[j], outputs[j].get()});
    if (io::writeSafetensors(out, named) != ROTOR_OK) {
      error = rotor_last_error();
      return false;
    }
    return true;
  }
  if (endsWith(out, ".npy")) {
    if (outputs.size() != 1) {
      error = "-o " + out + ": the entry has " +
              std::to_string(outputs.size()) +
              " outputs; write them to a directory or a .safetensors file";
      return false;
    }
    if (io::writeNpy(out, outputs[0].get(), npyOptions) != ROTOR_OK) {
      error = rotor_last_error();
      return false;
    }
    return true;
  }
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec || !std::filesystem::is_directory(out)) {
    error = "-o " + out + ": cannot create the output directory" +
            (ec ? ": " + ec.message() : std::string(": a file is in the way"));
    return false;
  }
  for (size_t j = 0; j < outputs.size(); ++j) {
    std::string path = (std::filesystem::path(out) / (names[j] + ".npy"));
    if (io::writeNpy(path, outputs[j].get(), npyOptions) != ROTOR_OK) {
      error = rotor_last_error();
      return false;
    }
  }
  return true;
}

/// Prints "timing: ..." for the per-call durations in milliseconds.
void printTimings(const std::string &entry, std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  size_t n = ms.size();
  double median = n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
  double sum = 0;
  for (double value : ms)
    sum += value;
  char line[256];
  std::snprintf(line, sizeof(line),
                "timing: %zu runs of '%s': min %.3f ms, median %.3f ms, "
                "mean %.3f ms\n",
                n, entry.c_str(), ms.front(), median, sum / n);
  std::cout << line;
}

} // namespace

void rotor::tool::printRunHelp() {
  std::cout
      << "OVERVIEW: run an entry of a Rotor artifact\n\n"
         "USAGE: rotor-run [run] ARTIFACT_DIR [options]\n\n"
         "Inputs come from --input/--inputs files or --random-inputs; bf16 "
         "inputs accept f32\n.npy arrays (rounded to nearest even). Inputs "
         "that are tensors of the artifact's\nweights file are bound to them "
         "unless a file gives them. Without -o, each\noutput is summarized "
         "on stdout (dtype, shape, min/max/mean, first values).\n\n"
         "OPTIONS:\n";
  ArgParser(runOptions()).printOptions(std::cout);
}

int rotor::tool::runCommand(const std::vector<std::string> &args) {
  ArgParser parser(runOptions());
  std::string dir;
  int exitCode;
  if (!parseArtifactCommand(parser, args, "rotor-run ARTIFACT_DIR [options]",
                            dir, exitCode))
    return exitCode;
  std::string error;

  rotor_device device;
  if (rotor_device_from_name(parser.value("device", "cpu").c_str(), &device) !=
      ROTOR_OK)
    return reportError(std::string("--device: ") + rotor_last_error());
  uint64_t repeat = 1, seed = 0;
  if (parser.has("repeat") &&
      (!parseCount(parser.value("repeat"), repeat) || repeat == 0))
    return reportError("--repeat must be a positive integer, got '" +
                       parser.value("repeat") + "'");
  if (parser.has("seed") && !parseCount(parser.value("seed"), seed))
    return reportError("--seed must be a non-negative integer, got '" +
                       parser.value("seed") + "'");

  std::string out = parser.value("o");
  if (parser.has("o") && out.empty())
    return reportError("-o needs a non-empty path");

  rotor_artifact *loaded;
  if (rotor_artifact_load(dir.c_str(), device, &loaded) != ROTOR_OK)
    return reportError(rotor_last_error());
  ArtifactPtr artifact(loaded);

  if (parser.has("list")) {
    listEntries(artifact.get());
    return 0;
  }

  size_t entry;
  if (!chooseEntry(artifact.get(), parser.value("entry"), entry, error))
    return reportError(error);
  std::string entryName = rotor_artifact_entry_name(artifact.get(), entry);

  InputOptions inputOptions;
  inputOptions.npyInputs = parser.values("input");
  inputOptions.safetensorsPath = parser.value("inputs");
  inputOptions.shapes = parser.values("shape");
  inputOptions.random = parser.has("random-inputs");
  inputOptions.seed = seed;
  inputOptions.bf16AsU2 = parser.has("bf16-as-u2");
  InputSet inputs;
  if (!buildInputs(artifact.get(), entry, inputOptions, inputs, error))
    return reportError(error);
  std::vector<const rotor_tensor *> inputPointers = inputs.pointers();
  std::vector<const char *> inputNames = inputs.namePointers();

  size_t numOutputs = rotor_entry_num_outputs(artifact.get(), entry);
  if (endsWith(out, ".npy") && numOutputs != 1)
    return reportError("-o " + out + ": entry '" + entryName + "' has " +
                       std::to_string(numOutputs) +
                       " outputs; write them to a directory or a "
                       ".safetensors file");
  std::vector<std::string> outputNames;
  for (size_t j = 0; j < numOutputs; ++j) {
    rotor_arg_info info;
    rotor_entry_output(artifact.get(), entry, j, &info);
    outputNames.push_back(info.name);
  }

  std::vector<TensorPtr> outputs(numOutputs);
  std::vector<rotor_tensor *> raw(numOutputs);
  std::vector<double> timings;
  for (uint64_t run = 0; run < repeat; ++run) {
    auto start = std::chrono::steady_clock::now();
    rotor_status status = rotor_call_named(
        artifact.get(), entryName.c_str(), inputNames.data(),
        inputPointers.data(), inputPointers.size(), raw.data(), raw.size());
    auto stop = std::chrono::steady_clock::now();
    if (status != ROTOR_OK)
      return reportError(rotor_last_error());
    for (size_t j = 0; j < numOutputs; ++j)
      outputs[j].reset(raw[j]);
    timings.push_back(
        std::chrono::duration<double, std::milli>(stop - start).count());
  }

  if (parser.has("o")) {
    if (!writeOutputs(out, outputNames, outputs, parser.has("bf16-as-u2"),
                      error))
      return reportError(error);
  } else {
    for (size_t j = 0; j < numOutputs; ++j)
      printSummary(std::cout, outputNames[j], outputs[j].get());
  }
  if (parser.has("repeat"))
    printTimings(entryName, timings);
  return 0;
}
