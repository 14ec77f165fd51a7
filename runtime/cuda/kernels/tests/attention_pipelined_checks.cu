//===- attention_pipelined_checks.cu - AttentionFwdWgmma variants --*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "attention_variant_checks.h"

namespace check {
namespace {
template <typename T, int D, typename M, typename B, bool S, bool L, typename R>
using Pipelined3 = rotor::cuda::AttentionFwdWgmma<T, D, M, B, S, L, R, 2, 128, 3, true>;
} // namespace

int runPipelinedChecks() { return VariantCases<Pipelined3>::run("fwd-wgmma-2wg-3stage"); }

} // namespace check
