//===- attention_onewg_checks.cu - AttentionFwdWgmma, one warpgroup -*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "attention_variant_checks.h"

namespace check {
namespace {
template <typename T, int D, typename M, typename B, bool S, bool L, typename R>
using OneWarpGroup = rotor::cuda::AttentionFwdWgmma<T, D, M, B, S, L, R, 1, 64, 2, true>;
} // namespace

int runOneWarpGroupChecks() { return VariantCases<OneWarpGroup>::run("fwd-wgmma-1wg-n64"); }

} // namespace check
