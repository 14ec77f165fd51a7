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
} // namespace

int runWarpSpecializedChecks() {
  return VariantCases<WarpSpecialized2>::run("fwd-wgmma-ws-2st") +
         VariantCases<Deferred>::run("fwd-wgmma-ws-deferred") +
         VariantCases<PingPong>::run("fwd-wgmma-ws-pingpong") +
         VariantCases<PingPongN64>::run("fwd-wgmma-ws-pingpong-n64");
}

} // namespace check
