//===- GenerateCommand.cpp - The `generate` subcommand of rotor-run -------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
//   rotor-run generate ARTIFACT_DIR --prompt-ids=1,5,9 --max-new-tokens=N
//       [--recompute] [--cache=auto|static|growing] [--cache-capacity=N]
//       [--print-logits] [--device=cpu|cuda]
//
// Greedy generation (batch size 1) with a model artifact
// (docs/model-artifacts.md):
//
//   prefill(input_ids: i64[1, S], weights...)
//       -> (logits: f32[1, S, V], k_cache.0, v_cache.0, ...)
//   decode(input_ids: i64[1, 1], k_cache.0, v_cache.0, ..., weights...)
//       -> (logits: f32[1, 1, V], k_cache.0, v_cache.0, ...)
//
// prefill runs once on the prompt; decode runs once per further token on
// the previous token and the caches. A cache is any decode input named like
// an output of prefill; decode must return it (by the same name) with one
// more position. Inputs that are neither input_ids nor caches must be
// tensors of the artifact's weights file, which the runtime binds.
//
// With a static cache (the default when the artifact has `decode_static`,
// which rotorc builds for --target=cuda), the decode steps run
//
//   decode_static(input_ids: i64[1, 1], cache_position: i64[1],
//                 k_cache.0 (1, Hkv, C, D), ..., weights...)
//       -> (logits, k_cache.0, ...)
//
// through a runtime session (rotor_session_*): the caches, copied once from
// prefill's into tensors of capacity C, stay in the session (on the GPU with
// --device=cuda), each step writes one row in place, and from the third
// step on the CUDA backend replays a captured CUDA graph of the step.
//
// With --recompute, forward(input_ids: i64[1, S], weights...) ->
// (logits: f32[1, S, V]) runs on the whole sequence at every step instead:
// slower, but the same tokens, which makes it a check of the cache.
//
// The next token is the argmax of the logits of the last position (the
// lowest index among equal maxima; NaNs are skipped, all-NaN logits are an
// error).
//
//===----------------------------------------------------------------------===//

#include "CommandLine.h"
#include "Subcommands.h"
#include "TensorSummary.h"
#include "rotor/Handles.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <system_error>

using namespace rotor;
using namespace rotor::tool;
using OptionKind = OptionSpec::Kind;

namespace {

std::vector<OptionSpec> generateOptions() {
  return {
      {"prompt-ids", OptionKind::Value, "ID,ID,...",
       "the prompt: token ids, comma-separated (required)"},
      {"max-new-tokens", OptionKind::Value, "N",
       "how many tokens to generate (required, positive)"},
      {"recompute", OptionKind::Flag, "",
       "run 'forward' on the whole sequence at every step instead of "
       "'prefill' once and 'decode' per token with the KV cache (to compare)"},
      {"cache", OptionKind::Value, "auto|static|growing",
       "the KV cache of the decode steps: static (entry 'decode_static', "
       "fixed-capacity caches kept in a session, CUDA graphs on the GPU), "
       "growing (entry 'decode', caches passed from call to call) or auto "
       "(static when the artifact has 'decode_static'; the default)"},
      {"cache-capacity", OptionKind::Value, "N",
       "with a static cache: its capacity in positions (default: the prompt "
       "plus --max-new-tokens)"},
      {"print-logits", OptionKind::Flag, "",
       "print, for every generated token, the logits it was chosen from"},
      {"device", OptionKind::Value, "cpu|cuda",
       "device to run on (default cpu)"},
      {"help", OptionKind::Flag, "", "print this help"},
  };
}

/// The name of the token input of every entry.
constexpr const char *idsName = "input_ids";
/// The name of the logits output of every entry.
constexpr const char *logitsName = "logits";

/// Reports failures as messages; every step returns false after setting it.
struct Failure {
  std::string message;
  bool operator()(const std::string &text) {
    message = text;
    return false;
  }
};

bool parseIds(const std::string &text, std::vector<int64_t> &ids,
              std::string &error) {
  size_t start = 0;
  while (true) {
    size_t end = text.find(',', start);
    if (end == std::string::npos)
      end = text.size();
    const char *first = text.data() + start, *last = text.data() + end;
    int64_t value;
    auto [ptr, ec] = std::from_chars(first, last, value);
    if (first == last || ec != std::errc() || ptr != last || value < 0) {
      error = "--prompt-ids must be non-negative integers separated by ',' "
              "(e.g. 1,5,9), got '" +
              text + "'";
      return false;
    }
    ids.push_back(value);
    if (end == text.size())
      return true;
    start = end + 1;
  }
}

/// One entry's signature and the roles of its arguments.
struct EntryInfo {
  std::string name;
  std::vector<rotor_arg_info> inputs, outputs;
  std::vector<bool> weight;
  size_t idsIndex = 0;
  size_t logitsIndex = 0;
  rotor_dtype idsDType = ROTOR_I64;
  /// The vocabulary size if the manifest fixes it, else -1.
  int64_t vocab = -1;

  long findInput(const std::string &arg) const {
    for (size_t i = 0; i < inputs.size(); ++i)
      if (arg == inputs[i].name)
        return static_cast<long>(i);
    return -1;
  }
  long findOutput(const std::string &arg) const {
    for (size_t j = 0; j < outputs.size(); ++j)
      if (arg == outputs[j].name)
        return static_cast<long>(j);
    return -1;
  }
};

std::string entryList(const rotor_artifact *artifact) {
  std::string names;
  for (size_t e = 0; e < rotor_artifact_num_entries(artifact); ++e)
    names +=
        (e ? ", " : "") + std::string(rotor_artifact_entry_name(artifact, e));
  return names;
}

/// Reads entry `name` and checks its input_ids and logits: `sequence` is the
/// required size of input_ids' dimension 1 (-1: any).
bool describeEntry(const rotor_artifact *artifact, const std::string &name,
                   int64_t sequence, EntryInfo &info, Failure &fail) {
  size_t index;
  if (rotor_artifact_find_entry(artifact, name.c_str(), &index) != ROTOR_OK)
    return fail(rotor_last_error());
  info.name = name;
  for (size_t i = 0; i < rotor_entry_num_inputs(artifact, index); ++i) {
    rotor_arg_info arg;
    rotor_entry_input(artifact, index, i, &arg);
    info.inputs.push_back(arg);
    info.weight.push_back(rotor_entry_input_is_weight(artifact, index, i) != 0);
  }
  for (size_t j = 0; j < rotor_entry_num_outputs(artifact, index); ++j) {
    rotor_arg_info arg;
    rotor_entry_output(artifact, index, j, &arg);
    info.outputs.push_back(arg);
  }
  std::string what = "entry '" + name + "'";

  long ids = info.findInput(idsName);
  if (ids < 0)
    return fail(what + " has no input '" + idsName + "'");
  info.idsIndex = static_cast<size_t>(ids);
  const rotor_arg_info &idsArg = info.inputs[info.idsIndex];
  std::vector<int64_t> idsShape(idsArg.shape, idsArg.shape + idsArg.rank);
  if (idsArg.dtype != ROTOR_I64 && idsArg.dtype != ROTOR_I32)
    return fail(what + " input '" + idsName + "' has dtype " +
                rotor_dtype_name(idsArg.dtype) + "; expected i64 (or i32)");
  info.idsDType = idsArg.dtype;
  if (idsArg.rank != 2)
    return fail(what + " input '" + idsName + "' has shape " +
                formatShapeList(idsShape) +
                "; expected rank 2 (batch, sequence)");
  if (idsShape[0] != ROTOR_DYNAMIC_DIM && idsShape[0] != 1)
    return fail(what + " input '" + idsName + "' has batch size " +
                std::to_string(idsShape[0]) + "; generate runs batch size 1");
  if (sequence >= 0 && idsShape[1] != ROTOR_DYNAMIC_DIM &&
      idsShape[1] != sequence)
    return fail(what + " input '" + idsName + "' has shape " +
                formatShapeList(idsShape) + "; expected sequence length " +
                std::to_string(sequence));

  long logits = info.findOutput(logitsName);
  if (logits < 0)
    return fail(what + " has no output '" + logitsName + "'");
  info.logitsIndex = static_cast<size_t>(logits);
  const rotor_arg_info &logitsArg = info.outputs[info.logitsIndex];
  std::vector<int64_t> logitsShape(logitsArg.shape,
                                   logitsArg.shape + logitsArg.rank);
  if (logitsArg.dtype == ROTOR_I32 || logitsArg.dtype == ROTOR_I64)
    return fail(what + " output '" + logitsName + "' has dtype " +
                rotor_dtype_name(logitsArg.dtype) + "; expected a float type");
  if (logitsArg.rank != 3)
    return fail(what + " output '" + logitsName + "' has shape " +
                formatShapeList(logitsShape) +
                "; expected rank 3 (batch, sequence, vocabulary)");
  info.vocab = logitsShape[2];
  return true;
}

/// Generation state shared by both modes.
class Generator {
public:
  Generator(rotor_artifact *artifact, bool printLogits)
      : artifact(artifact), printLogits(printLogits) {}

  bool run(bool recompute, const std::vector<int64_t> &prompt,
           uint64_t maxNewTokens, Failure &fail);
  /// Static caches: prefill, then decode_static through a session whose
  /// caches hold `capacity` positions.
  bool runStatic(const std::vector<int64_t> &prompt, uint64_t maxNewTokens,
                 int64_t capacity, Failure &fail);

  std::vector<int64_t> generated;
  /// Milliseconds spent in prefill, decode or forward calls.
  double firstMs = 0, restMs = 0;
  uint64_t calls = 0;
  /// Static caches: decode steps that replayed a captured CUDA graph.
  uint64_t graphReplays = 0;

private:
  rotor_artifact *artifact;
  bool printLogits;
  int64_t vocab = -1;

  bool checkVocab(const EntryInfo &entry, Failure &fail);
  /// Reads and checks entry 'prefill' (input_ids and weights only).
  bool describePrefill(const std::vector<int64_t> &prompt, EntryInfo &prefill,
                       Failure &fail);
  bool checkPrompt(const std::vector<int64_t> &prompt, rotor_dtype dtype,
                   Failure &fail);
  bool makeIds(const std::vector<int64_t> &ids, rotor_dtype dtype,
               TensorPtr &out, Failure &fail);
  /// Calls `entry` with the given inputs by name (the rest are weights);
  /// adds the call's time to `ms`.
  bool
  call(const EntryInfo &entry,
       const std::vector<std::pair<std::string, const rotor_tensor *>> &inputs,
       std::vector<TensorPtr> &outputs, double &ms, Failure &fail);
  /// Picks the next token from the last position of `logits`.
  bool pick(const EntryInfo &entry, const rotor_tensor *logits, Failure &fail);

  bool runCached(const std::vector<int64_t> &prompt, uint64_t maxNewTokens,
                 Failure &fail);
  bool runRecompute(const std::vector<int64_t> &prompt, uint64_t maxNewTokens,
                    Failure &fail);
};

bool Generator::checkVocab(const EntryInfo &entry, Failure &fail) {
  if (entry.vocab == ROTOR_DYNAMIC_DIM)
    return true;
  if (entry.vocab == 0)
    return fail("entry '" + entry.name + "' output '" + logitsName +
                "' has an empty vocabulary dimension");
  if (vocab >= 0 && vocab != entry.vocab)
    return fail("entry '" + entry.name + "' output '" + logitsName +
                "' has vocabulary size " + std::to_string(entry.vocab) +
                " but another entry has " + std::to_string(vocab));
  vocab = entry.vocab;
  return true;
}

bool Generator::checkPrompt(const std::vector<int64_t> &prompt,
                            rotor_dtype dtype, Failure &fail) {
  for (int64_t id : prompt) {
    if (vocab >= 0 && id >= vocab)
      return fail("--prompt-ids: token id " + std::to_string(id) +
                  " is out of range for vocabulary size " +
                  std::to_string(vocab));
    if (dtype == ROTOR_I32 && id > INT32_MAX)
      return fail("--prompt-ids: token id " + std::to_string(id) +
                  " does not fit the i32 input '" + idsName + "'");
  }
  return true;
}

bool Generator::makeIds(const std::vector<int64_t> &ids, rotor_dtype dtype,
                        TensorPtr &out, Failure &fail) {
  int64_t shape[2] = {1, static_cast<int64_t>(ids.size())};
  rotor_tensor *tensor;
  if (rotor_tensor_create(dtype, 2, shape, &tensor) != ROTOR_OK)
    return fail(rotor_last_error());
  out.reset(tensor);
  char *data = static_cast<char *>(rotor_tensor_data(tensor));
  for (size_t i = 0; i < ids.size(); ++i) {
    if (dtype == ROTOR_I64) {
      std::memcpy(data + 8 * i, &ids[i], 8);
    } else {
      int32_t value = static_cast<int32_t>(ids[i]);
      std::memcpy(data + 4 * i, &value, 4);
    }
  }
  return true;
}

bool Generator::call(
    const EntryInfo &entry,
    const std::vector<std::pair<std::string, const rotor_tensor *>> &inputs,
    std::vector<TensorPtr> &outputs, double &ms, Failure &fail) {
  std::vector<const char *> names;
  std::vector<const rotor_tensor *> tensors;
  for (const auto &[name, tensor] : inputs) {
    names.push_back(name.c_str());
    tensors.push_back(tensor);
  }
  std::vector<rotor_tensor *> raw(entry.outputs.size(), nullptr);
  auto start = std::chrono::steady_clock::now();
  rotor_status status =
      rotor_call_named(artifact, entry.name.c_str(), names.data(),
                       tensors.data(), tensors.size(), raw.data(), raw.size());
  auto stop = std::chrono::steady_clock::now();
  if (status != ROTOR_OK)
    return fail(rotor_last_error());
  ms += std::chrono::duration<double, std::milli>(stop - start).count();
  ++calls;
  outputs.clear();
  for (rotor_tensor *tensor : raw)
    outputs.emplace_back(tensor);
  return true;
}

bool Generator::pick(const EntryInfo &entry, const rotor_tensor *logits,
                     Failure &fail) {
  std::vector<int64_t> shape = tensorShape(logits);
  std::string what = "step " + std::to_string(generated.size()) + ": entry '" +
                     entry.name + "' returned logits of shape " +
                     formatShapeList(shape);
  // The manifest fixes the rank (checked by the runtime); the sizes are
  // checked here.
  if (shape[0] != 1 || shape[1] < 1 || shape[2] < 1)
    return fail(what + "; expected [1, S, V] with S and V at least 1");
  if (vocab >= 0 && shape[2] != vocab)
    return fail(what + " but the vocabulary size is " + std::to_string(vocab));
  vocab = shape[2];
  int64_t row = (shape[1] - 1) * vocab;
  int64_t best = -1;
  double bestValue = 0;
  for (int64_t v = 0; v < vocab; ++v) {
    double value = elementAsDouble(logits, row + v);
    if (!std::isnan(value) && (best < 0 || value > bestValue)) {
      best = v;
      bestValue = value;
    }
  }
  if (best < 0)
    return fail(what + ": every logit of the last position is NaN");
  if (printLogits) {
    std::string line = "step " + std::to_string(generated.size()) + ": token " +
                       std::to_string(best) + ", logits [";
    char number[32];
    for (int64_t v = 0; v < vocab; ++v) {
      std::snprintf(number, sizeof(number), "%.9g",
                    elementAsDouble(logits, row + v));
      line += (v ? ", " : "") + std::string(number);
    }
    std::cout << line << "]\n";
  }
  generated.push_back(best);
  return true;
}

bool Generator::describePrefill(const std::vector<int64_t> &prompt,
                                EntryInfo &prefill, Failure &fail) {
  if (!describeEntry(artifact, "prefill", static_cast<int64_t>(prompt.size()),
                     prefill, fail) ||
      !checkVocab(prefill, fail))
    return false;
  // prefill takes input_ids and weights only.
  for (size_t i = 0; i < prefill.inputs.size(); ++i)
    if (i != prefill.idsIndex && !prefill.weight[i])
      return fail(std::string("input '") + prefill.inputs[i].name +
                  "' of entry 'prefill' is neither '" + idsName +
                  "' nor a tensor of the weights file");
  return true;
}

bool Generator::runCached(const std::vector<int64_t> &prompt,
                          uint64_t maxNewTokens, Failure &fail) {
  for (const char *needed : {"prefill", "decode"}) {
    size_t index;
    if (rotor_artifact_find_entry(artifact, needed, &index) == ROTOR_OK)
      continue;
    bool hasForward =
        rotor_artifact_find_entry(artifact, "forward", &index) == ROTOR_OK;
    return fail(std::string("the artifact has no entry '") + needed +
                "' (it has: " + entryList(artifact) +
                "); generation with a KV cache needs 'prefill' and 'decode'" +
                (hasForward ? "; --recompute runs 'forward' instead" : ""));
  }
  EntryInfo prefill, decode;
  if (!describePrefill(prompt, prefill, fail) ||
      !describeEntry(artifact, "decode", 1, decode, fail) ||
      !checkVocab(decode, fail))
    return false;
  // decode's other inputs are caches (named like outputs of prefill, which
  // decode returns too) or weights.
  std::vector<std::string> caches;
  for (size_t i = 0; i < decode.inputs.size(); ++i) {
    std::string name = decode.inputs[i].name;
    if (i == decode.idsIndex)
      continue;
    if (prefill.findOutput(name) >= 0) {
      if (decode.findOutput(name) < 0)
        return fail("entry 'decode' takes cache '" + name +
                    "' (an output of 'prefill') but does not return it");
      if (name == logitsName)
        return fail("entry 'decode' takes '" + name +
                    "' as an input; the logits cannot be a cache");
      caches.push_back(name);
    } else if (!decode.weight[i]) {
      return fail("input '" + name + "' of entry 'decode' is neither '" +
                  idsName +
                  "', a cache returned by 'prefill', nor a tensor of the "
                  "weights file");
    }
  }
  if (!checkPrompt(prompt, prefill.idsDType, fail))
    return false;

  // Cache tensors by name, from the latest call.
  std::map<std::string, TensorPtr> state;
  auto keepCaches = [&](const EntryInfo &entry,
                        std::vector<TensorPtr> &outputs) {
    for (const std::string &name : caches)
      state[name] =
          std::move(outputs[static_cast<size_t>(entry.findOutput(name))]);
  };

  TensorPtr ids;
  std::vector<TensorPtr> outputs;
  if (!makeIds(prompt, prefill.idsDType, ids, fail) ||
      !call(prefill, {{idsName, ids.get()}}, outputs, firstMs, fail) ||
      !pick(prefill, outputs[prefill.logitsIndex].get(), fail))
    return false;
  keepCaches(prefill, outputs);

  while (generated.size() < maxNewTokens) {
    std::vector<std::pair<std::string, const rotor_tensor *>> inputs;
    if (!makeIds({generated.back()}, decode.idsDType, ids, fail))
      return false;
    inputs.emplace_back(idsName, ids.get());
    for (const std::string &name : caches)
      inputs.emplace_back(name, state[name].get());
    if (!call(decode, inputs, outputs, restMs, fail) ||
        !pick(decode, outputs[decode.logitsIndex].get(), fail))
      return false;
    keepCaches(decode, outputs);
  }
  return true;
}

/// `cache` (1, H, S, D) copied into a zeroed tensor of `capacity` positions
/// along axis 2; other states (conv states, fixed size) copied as they are.
bool padState(const rotor_tensor *cache, int64_t capacity, TensorPtr &out,
              Failure &fail) {
  std::vector<int64_t> shape = tensorShape(cache);
  size_t element = rotor_dtype_size(rotor_tensor_dtype(cache));
  const char *src = static_cast<const char *>(rotor_tensor_data(cache));
  std::vector<int64_t> padded = shape;
  if (shape.size() == 4)
    padded[2] = capacity;
  rotor_tensor *tensor;
  if (rotor_tensor_create(rotor_tensor_dtype(cache), padded.size(),
                          padded.data(), &tensor) != ROTOR_OK)
    return fail(rotor_last_error());
  out.reset(tensor);
  char *dst = static_cast<char *>(rotor_tensor_data(tensor));
  if (shape.size() != 4) {
    std::memcpy(dst, src, rotor_tensor_nbytes(cache));
    return true;
  }
  size_t row = size_t(shape[3]) * element;
  for (int64_t bh = 0; bh < shape[0] * shape[1]; ++bh)
    std::memcpy(dst + size_t(bh * capacity) * row,
                src + size_t(bh * shape[2]) * row, size_t(shape[2]) * row);
  return true;
}

bool Generator::runStatic(const std::vector<int64_t> &prompt,
                          uint64_t maxNewTokens, int64_t capacity,
                          Failure &fail) {
  EntryInfo prefill, step;
  if (!describePrefill(prompt, prefill, fail) ||
      !describeEntry(artifact, "decode_static", 1, step, fail) ||
      !checkVocab(step, fail))
    return false;
  // decode_static's inputs: input_ids, cache_position, the caches (named
  // like prefill's outputs, returned again) and weights.
  constexpr const char *positionName = "cache_position";
  std::vector<std::string> caches;
  bool hasPosition = false;
  for (size_t i = 0; i < step.inputs.size(); ++i) {
    std::string name = step.inputs[i].name;
    if (i == step.idsIndex)
      continue;
    if (name == positionName) {
      hasPosition = true;
    } else if (prefill.findOutput(name) >= 0 && name != logitsName) {
      if (step.findOutput(name) < 0)
        return fail("entry 'decode_static' takes cache '" + name +
                    "' but does not return it");
      caches.push_back(name);
    } else if (!step.weight[i]) {
      return fail("input '" + name + "' of entry 'decode_static' is neither '" +
                  idsName + "', '" + positionName +
                  "', a cache returned by 'prefill', nor a tensor of the "
                  "weights file");
    }
  }
  if (!hasPosition)
    return fail("entry 'decode_static' has no input '" +
                std::string(positionName) + "'");
  if (!checkPrompt(prompt, prefill.idsDType, fail))
    return false;
  // Positions prompt .. prompt + maxNewTokens - 2 are written (the last
  // token is not fed back).
  if (capacity < int64_t(prompt.size() + maxNewTokens) - 1)
    return fail("--cache-capacity=" + std::to_string(capacity) +
                " holds fewer than the " +
                std::to_string(prompt.size() + maxNewTokens - 1) +
                " positions of the prompt and the generated tokens");

  TensorPtr ids;
  std::vector<TensorPtr> outputs;
  if (!makeIds(prompt, prefill.idsDType, ids, fail) ||
      !call(prefill, {{idsName, ids.get()}}, outputs, firstMs, fail) ||
      !pick(prefill, outputs[prefill.logitsIndex].get(), fail))
    return false;

  std::vector<const char *> stateNames;
  for (const std::string &name : caches)
    stateNames.push_back(name.c_str());
  rotor_session *raw;
  if (rotor_session_create(artifact, "decode_static", stateNames.data(),
                           stateNames.size(), &raw) != ROTOR_OK)
    return fail(rotor_last_error());
  SessionPtr session(raw);
  for (const std::string &name : caches) {
    TensorPtr padded;
    if (!padState(outputs[static_cast<size_t>(prefill.findOutput(name))].get(),
                  capacity, padded, fail))
      return false;
    if (rotor_session_set_state(session.get(), name.c_str(), padded.get()) !=
        ROTOR_OK)
      return fail(rotor_last_error());
  }

  // The step's outputs other than the caches: the logits and anything else.
  std::vector<size_t> others;
  for (size_t j = 0; j < step.outputs.size(); ++j)
    if (std::find(caches.begin(), caches.end(), step.outputs[j].name) ==
        caches.end())
      others.push_back(j);
  size_t logitsSlot = static_cast<size_t>(
      std::find(others.begin(), others.end(), step.logitsIndex) -
      others.begin());
  int64_t one = 1;
  rotor_tensor *position;
  if (rotor_tensor_create(ROTOR_I64, 1, &one, &position) != ROTOR_OK)
    return fail(rotor_last_error());
  TensorPtr positionTensor(position);
  int64_t next = static_cast<int64_t>(prompt.size());
  while (generated.size() < maxNewTokens) {
    if (!makeIds({generated.back()}, step.idsDType, ids, fail))
      return false;
    std::memcpy(rotor_tensor_data(position), &next, sizeof(next));
    const char *names[] = {idsName, positionName};
    const rotor_tensor *tensors[] = {ids.get(), position};
    std::vector<rotor_tensor *> results(others.size(), nullptr);
    auto start = std::chrono::steady_clock::now();
    rotor_status status = rotor_session_call(session.get(), names, tensors, 2,
                                             results.data(), results.size());
    auto stop = std::chrono::steady_clock::now();
    std::vector<TensorPtr> owned;
    for (rotor_tensor *t : results)
      owned.emplace_back(t);
    if (status != ROTOR_OK)
      return fail(rotor_last_error());
    restMs += std::chrono::duration<double, std::milli>(stop - start).count();
    ++calls;
    if (!pick(step, owned[logitsSlot].get(), fail))
      return false;
    ++next;
  }
  graphReplays = rotor_session_graph_replays(session.get());
  return true;
}

bool Generator::runRecompute(const std::vector<int64_t> &prompt,
                             uint64_t maxNewTokens, Failure &fail) {
  EntryInfo forward;
  if (!describeEntry(artifact, "forward", -1, forward, fail) ||
      !checkVocab(forward, fail))
    return false;
  for (size_t i = 0; i < forward.inputs.size(); ++i)
    if (i != forward.idsIndex && !forward.weight[i])
      return fail(std::string("input '") + forward.inputs[i].name +
                  "' of entry 'forward' is neither '" + idsName +
                  "' nor a tensor of the weights file");
  if (!checkPrompt(prompt, forward.idsDType, fail))
    return false;
  std::vector<int64_t> sequence = prompt;
  while (generated.size() < maxNewTokens) {
    TensorPtr ids;
    std::vector<TensorPtr> outputs;
    if (!makeIds(sequence, forward.idsDType, ids, fail) ||
        !call(forward, {{idsName, ids.get()}}, outputs,
              generated.empty() ? firstMs : restMs, fail) ||
        !pick(forward, outputs[forward.logitsIndex].get(), fail))
      return false;
    sequence.push_back(generated.back());
  }
  return true;
}

bool Generator::run(bool recompute, const std::vector<int64_t> &prompt,
                    uint64_t maxNewTokens, Failure &fail) {
  generated.reserve(maxNewTokens < 4096 ? maxNewTokens : 4096);
  return recompute ? runRecompute(prompt, maxNewTokens, fail)
                   : runCached(prompt, maxNewTokens, fail);
}

/// "12.345 ms" and, if the time is positive, " (N tokens/s)".
std::string formatRate(uint64_t tokens, double ms) {
  char text[96];
  if (ms > 0)
    std::snprintf(text, sizeof(text), "%.3f ms (%.1f tokens/s)", ms,
                  tokens / (ms / 1000.0));
  else
    std::snprintf(text, sizeof(text), "%.3f ms", ms);
  return text;
}

} // namespace

void rotor::tool::printGenerateHelp() {
  std::cout
      << "OVERVIEW: greedy generation with a model artifact\n\n"
         "USAGE: rotor-run generate ARTIFACT_DIR --prompt-ids=ID,ID,... "
         "--max-new-tokens=N [options]\n\n"
         "Runs 'prefill' on the prompt, then 'decode' once per further "
         "token, passing the\nKV caches (decode inputs named like outputs of "
         "prefill) from call to call.\nWeights come from the artifact's "
         "weights file. Batch size 1; each token is the\nargmax of the last "
         "position's logits. Prints the generated ids and tokens/s.\n\n"
         "OPTIONS:\n";
  ArgParser(generateOptions()).printOptions(std::cout);
}

int rotor::tool::generateCommand(const std::vector<std::string> &args) {
  ArgParser parser(generateOptions());
  std::string dir;
  int exitCode;
  if (!parseArtifactCommand(parser, args,
                            "rotor-run generate ARTIFACT_DIR "
                            "--prompt-ids=ID,... --max-new-tokens=N",
                            dir, exitCode))
    return exitCode;
  std::string error;
  if (!parser.has("prompt-ids"))
    return reportError("--prompt-ids is required (e.g. --prompt-ids=1,5,9)");
  std::vector<int64_t> prompt;
  if (!parseIds(parser.value("prompt-ids"), prompt, error))
    return reportError(error);
  if (!parser.has("max-new-tokens"))
    return reportError("--max-new-tokens is required");
  uint64_t maxNewTokens = 0;
  {
    std::string text = parser.value("max-new-tokens");
    const char *first = text.data(), *last = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(first, last, maxNewTokens);
    if (first == last || ec != std::errc() || ptr != last ||
        maxNewTokens == 0 || maxNewTokens > (uint64_t(1) << 32))
      return reportError("--max-new-tokens must be a positive integer, got '" +
                         text + "'");
  }
  rotor_device device;
  if (rotor_device_from_name(parser.value("device", "cpu").c_str(), &device) !=
      ROTOR_OK)
    return reportError(std::string("--device: ") + rotor_last_error());

  rotor_artifact *loaded;
  if (rotor_artifact_load(dir.c_str(), device, &loaded) != ROTOR_OK)
    return reportError(rotor_last_error());
  ArtifactPtr artifact(loaded);

  bool recompute = parser.has("recompute");
  std::string cache = parser.value("cache", "auto");
  if (cache != "auto" && cache != "static" && cache != "growing")
    return reportError("--cache must be auto, static or growing, not '" +
                       cache + "'");
  size_t stepIndex;
  bool hasStatic = rotor_artifact_find_entry(artifact.get(), "decode_static",
                                             &stepIndex) == ROTOR_OK;
  rotor_clear_error();
  if (cache == "static" && !hasStatic)
    return reportError("--cache=static: the artifact has no entry "
                       "'decode_static' (it has: " +
                       entryList(artifact.get()) +
                       "); compile it with rotorc --static-cache=on");
  bool useStatic = !recompute && (cache == "static" ||
                                  (cache == "auto" && hasStatic));
  int64_t capacity = static_cast<int64_t>(prompt.size() + maxNewTokens);
  if (parser.has("cache-capacity")) {
    std::string text = parser.value("cache-capacity");
    const char *first = text.data(), *last = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(first, last, capacity);
    if (first == last || ec != std::errc() || ptr != last || capacity < 1)
      return reportError("--cache-capacity must be a positive integer, got '" +
                         text + "'");
  }
  Generator generator(artifact.get(), parser.has("print-logits"));
  Failure fail;
  bool ok = useStatic
                ? generator.runStatic(prompt, maxNewTokens, capacity, fail)
                : generator.run(recompute, prompt, maxNewTokens, fail);
  if (!ok)
    return reportError(fail.message);

  std::string ids;
  for (int64_t id : generator.generated)
    ids += (ids.empty() ? "" : ",") + std::to_string(id);
  std::cout << "generated: " << ids << "\n";
  uint64_t count = generator.generated.size();
  double total = generator.firstMs + generator.restMs;
  if (recompute) {
    std::cout << "forward: " << generator.calls << " calls in "
              << formatRate(count, total) << "\n";
  } else {
    char prefill[96];
    std::snprintf(prefill, sizeof(prefill), "%.3f ms", generator.firstMs);
    std::cout << "prefill: " << prompt.size() << " prompt tokens in " << prefill
              << "\n";
    std::cout << "decode: " << count - 1 << " tokens in "
              << formatRate(count - 1, generator.restMs);
    if (useStatic) {
      std::cout << " (static cache of " << capacity << " positions";
      if (device == ROTOR_DEVICE_CUDA)
        std::cout << ", " << generator.graphReplays
                  << " steps replayed as a CUDA graph";
      std::cout << ")";
    }
    std::cout << "\n";
  }
  std::cout << "total: " << count << " new tokens in "
            << formatRate(count, total) << "\n";
  return 0;
}
