//===- attention_simple_checks.cu - AttentionSimple cases ---------*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "attention_check.h"

using namespace rotor::cuda;

namespace check {
namespace {

template <typename T, int D, typename M, typename Bi = NoBias, bool SC = false, bool L = false,
          typename R = NoRope>
bool simple(const std::string &label, AttnShape s) {
  using K = AttentionSimple<T, D, M, Bi, SC, L, R>;
  return attentionCase<K, T, D, M, Bi, SC, L, R>("simple " + label, s);
}

using Causal = Mask<true, -1, -1, 1, 0, 0>;

} // namespace

int runAttentionSimpleChecks() {
  int before = tally().fail;
  simple<float, 64, Mask<true, 50, -1, 2, 0, 4>, NoBias, false, true>(
      "window dil 2 + global", {1, 4, 2, 131, 131});
  simple<float, 80, NoMask, T5Bias<32, 128>, true>("softcap+bias", {1, 2, 2, 40, 97, 2.0f});
  simple<float, 128, Causal, NoBias, false, false, RopeQK<128, false, int, false>>(
      "rope decode", {2, 8, 2, 3, 250});
  simple<__nv_bfloat16, 128, Causal>("decode", {1, 8, 1, 1, 1000});
  simple<float, 64, Causal, NoBias, false, true, RopeQK<64, true, long long, true, true>>(
      "rope table decode", {2, 4, 1, 2, 90, 0.f, 77777});
  simple<float, 96, Causal, NoBias, false, true>("Sq>Sk masked rows", {1, 2, 1, 100, 60});
  simple<float, 64, Mask<true, -1, -1, 1, 37, 0>>("chunk 37", {1, 1, 1, 150, 150});
  // Static caches: the keys past query_start + Sq hold NaN (never read).
  simple<__nv_bfloat16, 128, Causal>("static decode", {2, 8, 2, 1, 300, 0.f, 0, true, 137});
  simple<float, 64, Mask<true, 20, -1, 1, 0, 3>>("static window+global",
                                                 {1, 4, 1, 3, 77, 0.f, 0, true, 50, false});
  simple<__half, 80, Causal>("static full cache", {1, 2, 2, 1, 64, 0.f, 0, true, 63});
  simple<float, 96, Causal, NoBias, false, true>("static start past end",
                                                 {1, 2, 1, 2, 40, 0.f, 0, true, 45});
  simple<float, 64, Causal>("static negative start", {1, 2, 2, 4, 40, 0.f, 0, true, -2});
  return tally().fail - before;
}

} // namespace check
