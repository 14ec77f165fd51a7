//===- SyntheticTask.cpp - Seeded copy and sort tasks ---------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Random numbers come from SplitMix64 started at a hash of (seed, batch
// index), so any batch can be made without the ones before it: a resumed
// run continues with exactly the batches the uninterrupted run would see.
//
//===----------------------------------------------------------------------===//

#include "rotor/train.h"

#include "Error.h"

#include <algorithm>

using namespace rotor;
using namespace rotor::train;

namespace {

uint64_t splitMix64(uint64_t &state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/// A uniform integer in [0, bound) (Lemire's multiply-shift; the bias is
/// below 2^-40 for the bounds used here).
uint64_t uniform(uint64_t &state, uint64_t bound) {
  return static_cast<uint64_t>(
      (static_cast<unsigned __int128>(splitMix64(state)) * bound) >> 64);
}

} // namespace

const char *rotor::train::taskName(TaskKind kind) {
  return kind == TaskKind::Copy ? "copy" : "sort";
}

rotor_status SyntheticTask::validate(int64_t batch, int64_t seq) const {
  if (vocab < 3)
    return fail(ROTOR_ERR_INVALID_ARGUMENT, "task '", taskName(kind),
                "' needs a vocabulary of at least 3 tokens (the separator 0 "
                "and two symbols), the model has ",
                vocab);
  if (seq < 3)
    return fail(ROTOR_ERR_INVALID_ARGUMENT, "seq: ", seq,
                " is too short for task '", taskName(kind),
                "' (at least 3: a symbol, the separator, its copy)");
  if (batch < 1)
    return fail(ROTOR_ERR_INVALID_ARGUMENT, "batch: ", batch,
                " must be at least 1");
  return ROTOR_OK;
}

Batch SyntheticTask::make(uint64_t index, int64_t batch, int64_t seq) const {
  Batch out;
  out.batch = batch;
  out.seq = seq;
  out.inputIds.assign(static_cast<size_t>(batch * seq), 0);
  out.labels.assign(static_cast<size_t>(batch * seq), ignoreIndex);
  uint64_t state = seed;
  splitMix64(state);
  state ^= index * 0xd1b54a32d192ed03ull;
  int64_t n = (seq - 1) / 2;
  std::vector<int64_t> symbols(static_cast<size_t>(n));
  for (int64_t b = 0; b < batch; ++b) {
    int64_t *ids = out.inputIds.data() + b * seq;
    int64_t *labels = out.labels.data() + b * seq;
    for (int64_t &symbol : symbols)
      symbol = 1 + static_cast<int64_t>(
                       uniform(state, static_cast<uint64_t>(vocab - 1)));
    std::copy(symbols.begin(), symbols.end(), ids);
    ids[n] = 0;
    if (kind == TaskKind::Sort)
      std::sort(symbols.begin(), symbols.end());
    std::copy(symbols.begin(), symbols.end(), ids + n + 1);
    for (int64_t s = n; s < 2 * n; ++s)
      labels[s] = ids[s + 1];
  }
  return out;
}
