//===- attention_unpipelined_checks.cu - wgmma, simple loop ---*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "attention_variant_checks.h"

namespace check {
namespace {
/// The unpipelined loop (two stages, two barriers per tile); AttentionFwd
/// uses the pipelined one, which attention_checks.cu covers.
template <typename T, int D, typename M, typename B, bool S, bool L, typename R>
using Unpipelined = rotor::cuda::AttentionFwdWgmma<T, D, M, B, S, L, R, 2, 128, 2, false>;
} // namespace

int runUnpipelinedChecks() { return VariantCases<Unpipelined>::run("fwd-wgmma-unpipelined"); }

} // namespace check
