//===- MaskTiling.cpp - Simplification of structured masks ------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Each rule below keeps MaskAttr::isVisible(p, j) unchanged for every query
// position p in [Sk - Sq, Sk - 1] and key position j in [0, Sk - 1]; the
// unit tests check that by brute force.
//
//===----------------------------------------------------------------------===//

#include "rotor/Analysis/MaskTiling.h"

using namespace mlir;
using namespace mlir::rotor;

MaskAttr mlir::rotor::simplifyMask(MaskAttr m, std::optional<int64_t> seqQ,
                                   std::optional<int64_t> seqK,
                                   bool keepCausal) {
  bool causal = m.getCausal();
  std::optional<int64_t> left = m.getWindowLeft(), right = m.getWindowRight();
  std::optional<int64_t> chunk = m.getChunk();
  int64_t n = m.getDilation(), global = m.getGlobal();

  // A causal query sees no key to its right whatever window_right says.
  if (causal)
    right.reset();
  // d = p - j <= Sk - 1: a window at least that wide restricts nothing.
  if (left && seqK && *left * n >= *seqK - 1)
    left.reset();
  // j - p <= Sq - 1.
  if (right && seqQ && *right * n >= *seqQ - 1)
    right.reset();
  // Every position in [0, Sk) lies in chunk 0.
  if (chunk && seqQ && seqK && *chunk >= *seqK && *seqQ <= *seqK)
    chunk.reset();
  bool localRestricts = left || right || chunk || n > 1;
  if (global > 0 && seqK && global >= *seqK) {
    // Every key is a global token: only the causal bound remains.
    left.reset(), right.reset(), chunk.reset();
    n = 1;
    global = 0;
  } else if (global > 0 && !localRestricts) {
    global = 0;
  }
  // The single query sits at Sk - 1, after every key.
  if (causal && !keepCausal && seqQ && *seqQ == 1)
    causal = false;
  return MaskAttr::get(m.getContext(), causal, left, right, n, chunk, global);
}
