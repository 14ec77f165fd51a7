//===- attention_tweak_checks.cu - AttentionFwdWgmma kTweaks -------*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// The variant cases for the kTweaks bits of AttentionFwdWgmma (raw scores,
// exponentials pinned before the P·V wait, heads-first block order, lazy
// rescaling) on the
// two default configurations (ping-pong and the local-mask kernel); its own
// translation unit, so that it compiles in parallel with the others.
//
//===----------------------------------------------------------------------===//

#include "attention_variant_checks.h"

namespace check {
namespace {
/// Ping-pong with raw scores (one FFMA per exponential) and every
/// exponential pinned before the P·V wait (kTweaks = 3).
template <typename T, int D, typename M, typename B, bool S, bool L, typename R>
using PingPongTweaked =
    rotor::cuda::AttentionFwdWgmma<T, D, M, B, S, L, R, 2, 128, 3, true, 0, 3, 3>;
/// ... and the blocks in heads-first order, and lazy rescaling (kTweaks =
/// 15: every bit).
template <typename T, int D, typename M, typename B, bool S, bool L, typename R>
using PingPongAll =
    rotor::cuda::AttentionFwdWgmma<T, D, M, B, S, L, R, 2, 128, 3, true, 0, 3, 15>;
/// The local-mask kernel (64-key tiles, two blocks per SM) with raw scores,
/// and with raw scores, heads-first order and lazy rescaling (13).
template <typename T, int D, typename M, typename B, bool S, bool L, typename R>
using LocalRaw = rotor::cuda::AttentionFwdWgmma<T, D, M, B, S, L, R, 2, 64, 2, true, 2, 0, 1>;
template <typename T, int D, typename M, typename B, bool S, bool L, typename R>
using LocalAll = rotor::cuda::AttentionFwdWgmma<T, D, M, B, S, L, R, 2, 64, 2, true, 2, 0, 13>;
} // namespace

int runTweakChecks() {
  return VariantCases<PingPongTweaked>::run("fwd-wgmma-ws-pingpong-raw-pinned") +
         VariantCases<PingPongAll>::run("fwd-wgmma-ws-pingpong-tweaks-15") +
         VariantCases<LocalRaw>::run("fwd-wgmma-n64x2-raw") +
         VariantCases<LocalAll>::run("fwd-wgmma-n64x2-tweaks-13");
}

} // namespace check
