//===- attention_ws_checks.cu - AttentionFwdWgmma, warp-specialized -*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "attention_variant_checks.h"

namespace check {
namespace {
template <typename T, int D, typename M, typename B, bool S, bool L, typename R>
using WarpSpecialized2 =
    rotor::cuda::AttentionFwdWgmma<T, D, M, B, S, L, R, 2, 128, 2, true, 0, 1>;
template <typename T, int D, typename M, typename B, bool S, bool L, typename R>
using Deferred = rotor::cuda::AttentionFwdWgmma<T, D, M, B, S, L, R, 2, 128, 3, true, 0, 2>;
template <typename T, int D, typename M, typename B, bool S, bool L, typename R>
using PingPong = rotor::cuda::AttentionFwdWgmma<T, D, M, B, S, L, R, 2, 128, 3, true, 0, 3>;
template <typename T, int D, typename M, typename B, bool S, bool L, typename R>
using PingPongN64 = rotor::cuda::AttentionFwdWgmma<T, D, M, B, S, L, R, 2, 64, 4, true, 0, 3>;
/// Ping-pong with raw scores (one FFMA per exponential) and every
/// exponential pinned before the P·V wait (kTweaks = 3).
template <typename T, int D, typename M, typename B, bool S, bool L, typename R>
using PingPongTweaked =
    rotor::cuda::AttentionFwdWgmma<T, D, M, B, S, L, R, 2, 128, 3, true, 0, 3, 3>;
/// The local-mask kernel (64-key tiles, two blocks per SM) with raw scores.
template <typename T, int D, typename M, typename B, bool S, bool L, typename R>
using LocalRaw = rotor::cuda::AttentionFwdWgmma<T, D, M, B, S, L, R, 2, 64, 2, true, 2, 0, 1>;
} // namespace

int runWarpSpecializedChecks() {
  return VariantCases<WarpSpecialized2>::run("fwd-wgmma-ws-2st") +
         VariantCases<Deferred>::run("fwd-wgmma-ws-deferred") +
         VariantCases<PingPong>::run("fwd-wgmma-ws-pingpong") +
         VariantCases<PingPongN64>::run("fwd-wgmma-ws-pingpong-n64") +
         VariantCases<PingPongTweaked>::run("fwd-wgmma-ws-pingpong-raw-pinned") +
         VariantCases<LocalRaw>::run("fwd-wgmma-n64x2-raw");
}

} // namespace check
