//===- attention_variant_checks.h - Cases for a wgmma kernel variant -*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// The head-dim 64/128 cases of attention_checks.cu, for one configuration of
// AttentionFwdWgmma given as an alias template KF<T, D, Mask, Bias, softcap,
// lse, Rope>; each variant is checked in its own translation unit.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_CUDA_KERNEL_CHECK_ATTENTION_VARIANTS_H
#define ROTOR_CUDA_KERNEL_CHECK_ATTENTION_VARIANTS_H

#include "attention_check.h"

namespace check {

template <template <typename, int, typename, typename, bool, bool, typename> class KF>
struct VariantCases {
  template <typename T, int D, typename M, typename Bi = rotor::cuda::NoBias, bool SC = false,
            bool L = false, typename R = rotor::cuda::NoRope>
  static bool one(const std::string &label, AttnShape s) {
    using K = KF<T, D, M, Bi, SC, L, R>;
    return attentionCase<K, T, D, M, Bi, SC, L, R>(label, s);
  }

  static int run(const std::string &prefix) {
    using namespace rotor::cuda;
    using bf16 = __nv_bfloat16;
    using f16 = __half;
    using Causal = Mask<true, -1, -1, 1, 0, 0>;
    int before = tally().fail;
    one<bf16, 128, NoMask>(prefix + " full", {1, 4, 1, 197, 197});
    one<f16, 64, Causal, NoBias, false, true>(prefix + " causal+lse", {2, 4, 2, 300, 300});
    one<f16, 128, Mask<true, 40, -1, 3, 0, 0>>(prefix + " window 40 dil 3", {1, 2, 1, 301, 301});
    one<bf16, 64, Mask<true, -1, -1, 1, 100, 0>>(prefix + " chunk 100", {1, 3, 3, 350, 350});
    one<bf16, 128, Mask<true, 63, -1, 1, 0, 16>, NoBias, false, true>(prefix + " hybrid",
                                                                       {1, 4, 2, 400, 400});
    one<f16, 64, Causal>(prefix + " decode causal", {2, 8, 2, 5, 517});
    one<bf16, 128, Causal, NoBias, false, true>(prefix + " Sq>Sk masked rows",
                                                 {1, 2, 1, 300, 200});
    {
      AttnShape grow{1, 4, 2, 700, 1100};
      grow.keyGrowth = 6.f;
      one<bf16, 128, Causal, NoBias, false, true>(prefix + " growing scores", grow);
    }
    one<bf16, 64, Causal, T5Bias<32, 64>, true, true>(prefix + " causal bias softcap",
                                                       {1, 2, 1, 200, 200, 3.f});
    one<bf16, 128, Mask<true, 99, -1, 1, 0, 0>, NoBias, false, false,
        RopeQK<128, false, int, false>>(prefix + " rope + window", {1, 4, 1, 250, 250});
    one<bf16, 128, Mask<true, 99, -1, 1, 0, 0>, NoBias, false, false,
        RopeQK<128, false, int, false, true>>(prefix + " rope table + window",
                                              {1, 4, 1, 250, 250});
    one<f16, 64, Mask<false, 30, 20, 1, 0, 0>>(prefix + " bidir window", {1, 2, 2, 211, 211});
    one<f16, 128, Causal>(prefix + " empty keys", {1, 2, 1, 3, 0});
    one<bf16, 128, Mask<true, 1023, -1, 1, 0, 64>>(prefix + " hybrid long",
                                                  {1, 2, 1, 2500, 2500});
    return tally().fail - before;
  }
};

} // namespace check

#endif // ROTOR_CUDA_KERNEL_CHECK_ATTENTION_VARIANTS_H
