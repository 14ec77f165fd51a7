//===- attention_bwd_checks.cu - Attention backward cases ---------*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// AttentionBwdSimple (f32 and 16-bit types), AttentionBwdMma and
// AttentionBwdWgmma (tensor cores, bf16/fp16) against f64 loops (attention_bwd_check.h): every mask kind, GQA
// ratios 1/2/4/8, Sq != Sk (queries aligned to the end of the keys, rows
// with no visible key), odd lengths, softcap and T5 bias.
// `kernel_check --only bwd` runs these alone.
//
//===----------------------------------------------------------------------===//

#include "attention_bwd_check.h"

using namespace rotor::cuda;

namespace check {
namespace {

template <typename T, int D, typename M, typename Bi = NoBias, bool SC = false>
bool simpleBwd(const std::string &label, BwdShape s) {
  using K = AttentionBwdSimple<T, D, M, Bi, SC>;
  return attentionBwdCase<K, T, D, M, Bi, SC>("bwd simple " + label, s);
}

template <typename T, int D, typename M, typename Bi = NoBias, bool SC = false, int N = 0>
bool tcBwd(const std::string &label, BwdShape s) {
  using K = AttentionBwdMma<T, D, M, Bi, SC, N>;
  return attentionBwdCase<K, T, D, M, Bi, SC>(
      "bwd mma n" + std::to_string(K::kBlockN) + " " + label, s);
}

/// Hopper warpgroup MMA (head dims 64 and 128).
template <typename T, int D, typename M, typename Bi = NoBias, bool SC = false>
bool wgBwd(const std::string &label, BwdShape s) {
  using K = AttentionBwdWgmma<T, D, M, Bi, SC>;
  return attentionBwdCase<K, T, D, M, Bi, SC>("bwd wgmma " + label, s);
}

/// The dQ of each step added during the next one (kDeferDQ).
template <typename T, int D, typename M, typename Bi = NoBias, bool SC = false>
bool wgBwdDefer(const std::string &label, BwdShape s) {
  using K = AttentionBwdWgmma<T, D, M, Bi, SC, true, true>;
  return attentionBwdCase<K, T, D, M, Bi, SC>("bwd wgmma defer-dq " + label, s);
}

/// The blocks in launch order (key tile fastest) instead of the default
/// heads-first order.
template <typename T, int D, typename M, typename Bi = NoBias, bool SC = false>
bool tcBwdLaunchOrder(const std::string &label, BwdShape s) {
  using K = AttentionBwdMma<T, D, M, Bi, SC, 0, false>;
  return attentionBwdCase<K, T, D, M, Bi, SC>("bwd mma launch order " + label, s);
}

using Causal = Mask<true, -1, -1, 1, 0, 0>;
using bf16 = __nv_bfloat16;
using f16 = __half;

} // namespace

int runAttentionBwdChecks() {
  int before = tally().fail;
  // CUDA-core kernel, f32 first (training small models in f32).
  simpleBwd<float, 64, Causal>("causal", {2, 8, 2, 77, 77});
  simpleBwd<float, 80, Mask<true, 37, -1, 1, 0, 0>>("window 37", {1, 4, 2, 129, 129});
  simpleBwd<float, 96, Mask<true, -1, -1, 1, 37, 0>>("chunk 37", {1, 2, 1, 150, 150});
  simpleBwd<float, 128, Mask<true, 20, -1, 1, 0, 5>>("window 20 + global 5", {1, 8, 1, 100, 100});
  simpleBwd<float, 64, Mask<true, 30, -1, 2, 0, 0>>("dilated window 30 d=2", {1, 2, 2, 129, 129});
  simpleBwd<float, 64, NoMask>("full Sq<Sk", {2, 4, 4, 50, 77});
  simpleBwd<float, 96, Causal>("causal Sq>Sk (empty rows)", {1, 4, 2, 100, 60});
  simpleBwd<float, 80, NoMask, T5Bias<32, 128>, true>("softcap + bias", {1, 2, 2, 40, 97, 2.0f});
  simpleBwd<float, 64, Causal, T5Bias<16, 64>>("causal bias", {1, 2, 1, 1000, 1000});
  simpleBwd<float, 40, Mask<false, 16, 8, 1, 0, 0>, T5Bias<32, 128>>("window 16/8 + bias",
                                                                     {1, 4, 1, 33, 33});
  simpleBwd<float, 128, Mask<false, -1, -1, 1, 64, 3>, NoBias, true>("chunk 64 + global 3 softcap",
                                                                     {1, 2, 1, 200, 200, 5.0f});
  simpleBwd<bf16, 64, Causal>("causal", {1, 4, 1, 65, 65});
  simpleBwd<float, 256, Mask<true, 9, -1, 1, 0, 0>>("window 9 D=256", {1, 2, 1, 45, 45});
  // Tensor cores (bf16, fp16): head dims 64/80/96/128, GQA 1/2/4/8.
  tcBwd<bf16, 128, Causal>("causal", {2, 8, 2, 129, 129});
  tcBwd<f16, 128, Causal>("causal", {1, 4, 4, 300, 300});
  tcBwd<bf16, 64, Mask<true, 100, -1, 1, 0, 0>>("window 100", {1, 2, 1, 1000, 1000});
  tcBwd<f16, 80, Mask<true, -1, -1, 1, 100, 0>>("chunk 100", {1, 4, 2, 300, 300});
  tcBwd<bf16, 96, Mask<true, 50, -1, 1, 0, 8>>("window 50 + global 8", {1, 8, 1, 257, 257});
  tcBwd<bf16, 128, Mask<true, 60, -1, 2, 0, 0>>("dilated window 60 d=2", {1, 2, 1, 200, 200});
  // Strided residue classes: Sq != Sk, more units than blocks (d = 3).
  tcBwd<f16, 64, Mask<true, 40, -1, 3, 0, 0>>("dilated window 40 d=3 Sq<Sk", {1, 4, 2, 100, 256});
  tcBwd<bf16, 80, Mask<false, 10, 10, 2, 0, 0>>("dilated window 10/10 d=2", {2, 2, 2, 131, 131});
  tcBwd<bf16, 64, Mask<true, 30, -1, 2, 0, 0>, NoBias, true>("dilated d=2 Sq>Sk softcap",
                                                             {1, 2, 1, 90, 41, 3.0f});
  tcBwd<f16, 64, NoMask>("full Sq<Sk", {2, 4, 2, 50, 200});
  tcBwd<bf16, 128, Causal>("causal Sq>Sk (empty rows)", {1, 2, 1, 150, 77});
  tcBwd<f16, 80, NoMask, T5Bias<32, 128>, true>("softcap + bias", {1, 2, 1, 70, 130, 3.0f});
  tcBwd<bf16, 64, Causal, T5Bias<16, 64>>("causal bias", {1, 4, 2, 300, 300});
  tcBwd<bf16, 128, NoMask>("full", {2, 4, 4, 256, 256});
  tcBwd<bf16, 96, Mask<false, 40, 20, 1, 0, 0>, NoBias, true>("window 40/20 softcap",
                                                              {1, 2, 2, 160, 160, 4.0f});
  tcBwd<bf16, 128, Causal, NoBias, false, 64>("causal", {1, 8, 1, 200, 200});
  tcBwd<f16, 64, Mask<false, -1, -1, 1, 64, 3>>("chunk 64 + global 3", {1, 2, 1, 333, 333});
  tcBwdLaunchOrder<bf16, 128, Causal>("causal", {2, 8, 2, 129, 129});
  tcBwdLaunchOrder<bf16, 96, Mask<true, 50, -1, 1, 0, 8>>("window 50 + global 8",
                                                         {2, 4, 1, 257, 257});
  tcBwdLaunchOrder<f16, 64, Mask<true, 40, -1, 3, 0, 0>>("dilated window 40 d=3 Sq<Sk",
                                                        {2, 4, 2, 100, 256});
  // Warpgroup MMA (sm_90a): both head dims, both types, every mask kind,
  // GQA 1/2/4/8, Sq != Sk, partial key and query tiles, softcap and bias.
  wgBwd<bf16, 128, Causal>("causal", {2, 8, 2, 129, 129});
  wgBwd<f16, 128, Causal>("causal", {1, 4, 4, 300, 300});
  wgBwd<bf16, 64, Causal>("causal GQA 8", {1, 8, 1, 333, 333});
  wgBwd<bf16, 64, Mask<true, 100, -1, 1, 0, 0>>("window 100", {1, 2, 1, 1000, 1000});
  wgBwd<f16, 128, Mask<true, -1, -1, 1, 100, 0>>("chunk 100", {1, 4, 2, 300, 300});
  wgBwd<bf16, 128, Mask<true, 50, -1, 1, 0, 8>>("window 50 + global 8", {1, 8, 1, 257, 257});
  wgBwd<bf16, 128, Mask<true, 60, -1, 2, 0, 0>>("dilated window 60 d=2", {1, 2, 1, 200, 200});
  wgBwd<f16, 64, Mask<true, 40, -1, 3, 0, 0>>("dilated window 40 d=3 Sq<Sk", {1, 4, 2, 100, 256});
  wgBwd<bf16, 64, Mask<true, 30, -1, 2, 0, 0>, NoBias, true>("dilated d=2 Sq>Sk softcap",
                                                             {1, 2, 1, 90, 41, 3.0f});
  wgBwd<f16, 64, NoMask>("full Sq<Sk", {2, 4, 2, 50, 200});
  wgBwd<bf16, 128, Causal>("causal Sq>Sk (empty rows)", {1, 2, 1, 150, 77});
  wgBwd<f16, 128, NoMask, T5Bias<32, 128>, true>("softcap + bias", {1, 2, 1, 70, 130, 3.0f});
  wgBwd<bf16, 64, Causal, T5Bias<16, 64>>("causal bias", {1, 4, 2, 300, 300});
  wgBwd<bf16, 128, NoMask>("full", {2, 4, 4, 256, 256});
  wgBwd<bf16, 128, Mask<false, 40, 20, 1, 0, 0>, NoBias, true>("window 40/20 softcap",
                                                               {1, 2, 2, 160, 160, 4.0f});
  wgBwd<f16, 64, Mask<false, -1, -1, 1, 64, 3>>("chunk 64 + global 3", {1, 2, 1, 333, 333});
  wgBwd<bf16, 128, Mask<true, 1023, -1, 1, 0, 64>>("hybrid window 1023 + global 64",
                                                    {1, 4, 1, 1500, 1500});
  wgBwdDefer<bf16, 128, Causal>("causal", {2, 8, 2, 129, 129});
  wgBwdDefer<f16, 64, Mask<true, 40, -1, 3, 0, 0>>("dilated window 40 d=3 Sq<Sk",
                                                    {1, 4, 2, 100, 256});
  wgBwdDefer<bf16, 128, NoMask, T5Bias<32, 128>, true>("softcap + bias",
                                                         {1, 2, 1, 70, 130, 3.0f});
  return tally().fail - before;
}

} // namespace check
