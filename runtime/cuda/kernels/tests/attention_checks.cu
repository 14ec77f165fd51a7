//===- attention_checks.cu - AttentionFwd (tensor cores) cases ----*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Awkward sizes on purpose: odd Sq/Sk, Sq < Sk (decode) and Sq > Sk (rows
// with no visible key), head dims 64/80/96/128, GQA 1/2/4/8, windows that do
// not divide the length, dilation 2/3, chunks, global tokens, softcap, T5
// bias (both directions), rope prologue (both layouts, partial, batched
// int64 positions near 10^6).
//
//===----------------------------------------------------------------------===//

#include "attention_check.h"

using namespace rotor::cuda;

namespace check {
namespace {

template <typename T, int D, typename M, typename Bi = NoBias, bool SC = false, bool L = false,
          typename R = NoRope>
bool tc(const std::string &label, AttnShape s) {
  using K = AttentionFwd<T, D, M, Bi, SC, L, R>;
  return attentionCase<K, T, D, M, Bi, SC, L, R>("fwd " + label, s);
}

/// The mma.sync kernel for head dims that AttentionFwd sends to wgmma.
template <typename T, int D, typename M, typename Bi = NoBias, bool SC = false, bool L = false,
          typename R = NoRope>
bool mma(const std::string &label, AttnShape s) {
  using K = AttentionFwdMma<T, D, M, Bi, SC, L, R>;
  return attentionCase<K, T, D, M, Bi, SC, L, R>("fwd-mma " + label, s);
}

using bf16 = __nv_bfloat16;
using f16 = __half;
using Causal = Mask<true, -1, -1, 1, 0, 0>;

} // namespace

int runAttentionChecks() {
  int before = tally().fail;
  tc<bf16, 128, NoMask>("full", {1, 4, 1, 197, 197});
  tc<f16, 64, Causal, NoBias, false, true>("causal+lse", {2, 4, 2, 300, 300});
  tc<f16, 80, Mask<true, 100, -1, 1, 0, 0>>("window L=100", {1, 8, 1, 333, 333});
  tc<bf16, 96, Mask<true, 50, -1, 2, 0, 0>, NoBias, false, true>("window 50 dil 2",
                                                                  {1, 2, 2, 257, 257});
  tc<f16, 128, Mask<true, 40, -1, 3, 0, 0>>("window 40 dil 3", {1, 2, 1, 301, 301});
  tc<bf16, 64, Mask<true, -1, -1, 1, 100, 0>>("chunk 100", {1, 3, 3, 350, 350});
  tc<bf16, 128, Mask<true, 63, -1, 1, 0, 16>, NoBias, false, true>("hybrid W=64 G=16",
                                                                    {1, 4, 2, 400, 400});
  tc<f16, 64, Causal>("decode causal", {2, 8, 2, 5, 517});
  tc<bf16, 128, Causal, NoBias, false, true>("Sq>Sk masked rows", {1, 2, 1, 300, 200});
  tc<f16, 80, NoMask, T5Bias<32, 128>, true>("softcap+bias bidir", {1, 4, 4, 130, 260, 1.5f});
  tc<bf16, 64, Causal, T5Bias<32, 64>, false, true>("causal bias", {1, 2, 1, 200, 200});
  tc<bf16, 128, Mask<true, 99, -1, 1, 0, 0>, NoBias, false, false,
     RopeQK<128, false, int, false>>("rope rotate_half + window", {1, 4, 1, 250, 250});
  tc<f16, 96, NoMask, NoBias, false, true, RopeQK<64, true, long long, true>>(
      "rope interleaved partial pos~1e6", {2, 2, 1, 77, 300, 0.f, 999000});
  tc<f16, 64, Mask<false, 30, 20, 1, 0, 0>>("bidir window L30 R20", {1, 2, 2, 211, 211});
  tc<bf16, 128, Mask<false, -1, -1, 1, 64, 8>>("chunk 64 + global 8", {1, 2, 1, 190, 190});
  // Chunks of whole 128-row tiles take the heavy-first unit order.
  tc<bf16, 128, Mask<true, -1, -1, 1, 256, 0>>("chunk 256 unit order", {1, 2, 1, 1100, 1100});
  tc<f16, 64, Mask<true, -1, -1, 1, 256, 0>, NoBias, false, true>("chunk 256 Sq<Sk",
                                                                  {1, 2, 2, 900, 1000});
  tc<bf16, 96, Mask<true, 1023, -1, 2, 0, 64>>("hybrid dilated long", {1, 2, 1, 1500, 1500});
  tc<f16, 128, Causal>("empty keys", {1, 2, 1, 3, 0});
  tc<bf16, 64, Mask<true, 200, -1, 1, 0, 0>, NoBias, false, true>("window 201 long",
                                                                 {1, 2, 1, 1111, 1111});
  mma<bf16, 128, Mask<true, 63, -1, 1, 0, 16>, NoBias, false, true>("hybrid W=64 G=16",
                                                                    {1, 4, 2, 400, 400});
  tc<bf16, 128, Mask<true, 99, -1, 1, 0, 0>, NoBias, false, true,
     RopeQK<128, false, long long, true, true>>("rope table batched + window",
                                                {2, 4, 1, 250, 250, 0.f, 500000});
  tc<f16, 80, Causal, NoBias, false, false, RopeQK<32, true, int, false, true>>(
      "rope table interleaved partial", {1, 2, 2, 100, 131});
  // Dilation on residue classes (strided rows, dense windows over the
  // subsequence): Sq < Sk and Sq > Sk (class offsets), ragged class sizes,
  // GQA, LSE, bidirectional windows, no window, Sq < d; and the fallbacks
  // (chunk, bias, global tokens with dilation visit every tile of the span).
  tc<bf16, 128, Mask<true, 1023, -1, 2, 0, 0>, NoBias, false, true>("strided dil 2 W1024 Sq<Sk",
                                                                   {2, 4, 2, 1001, 1337});
  tc<f16, 64, Mask<false, 37, 21, 3, 0, 0>, NoBias, false, true>("strided dil 3 bidir Sq>Sk",
                                                                  {1, 2, 2, 410, 300});
  tc<bf16, 64, Mask<true, -1, -1, 4, 0, 0>>("strided dil 4 causal", {1, 3, 1, 515, 515});
  tc<bf16, 128, Mask<true, 100, -1, 5, 0, 0>, NoBias, false, true>("strided dil 5 decode",
                                                                   {2, 8, 4, 3, 700});
  tc<f16, 128, Mask<true, 50, -1, 2, 64, 0>>("dil 2 + chunk 64 (fallback)", {1, 2, 1, 333, 333});
  tc<bf16, 64, Mask<true, 40, -1, 3, 0, 0>, T5Bias<32, 64>, false, true>(
      "dil 3 + bias (fallback)", {1, 2, 1, 301, 301});
  tc<bf16, 128, Mask<true, 200, -1, 2, 0, 16>>("dil 2 + global 16 (fallback)",
                                               {1, 2, 1, 777, 777});
  mma<f16, 64, Mask<true, 40, -1, 3, 0, 0>, T5Bias<32, 64>, true, false,
      RopeQK<64, false, int, false>>("dil 3 bias softcap rope", {1, 2, 1, 301, 301, 2.f});
  // Static caches (query_start): chunks of queries appended to caches whose
  // rows past query_start + Sq hold NaN; strided dilation, the local and the
  // warp-specialized variants, mma.sync, a start past the capacity.
  tc<bf16, 128, Causal, NoBias, false, true>("static chunk", {1, 4, 2, 77, 500, 0.f, 0, true, 201});
  tc<f16, 64, Mask<true, 100, -1, 1, 0, 0>>("static window", {2, 4, 1, 130, 999, 0.f, 0, true,
                                                              400, false});
  tc<bf16, 128, Mask<true, 60, -1, 2, 0, 0>>("static strided dil 2",
                                             {1, 2, 1, 33, 300, 0.f, 0, true, 100});
  tc<f16, 128, Causal>("static start past end", {1, 2, 1, 40, 200, 0.f, 0, true, 190});
  mma<bf16, 96, Mask<true, 63, -1, 1, 0, 4>>("static hybrid", {1, 2, 2, 50, 260, 0.f, 0, true,
                                                              17});
  return tally().fail - before;
}

} // namespace check
