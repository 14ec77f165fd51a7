// RUN: rotorc %s -emit=cuda | FileCheck %s

// An attention op with a fused rope (as rotor-fuse-attention-rope forms it)
// runs the Rope kernel on q and k into scratch buffers, then attention: one
// RopeInvFreq and one Rope instance serve both sides.

// CHECK: // rotor::cuda::RopeInvFreq<128, rotor::cuda::RopeScaling::none, long long, void>
// CHECK: p.base = 5.00000000000000000e+05;
// CHECK: // rotor::cuda::Rope<__nv_bfloat16, long long, 128, 128, false, false>
// CHECK: // rotor::cuda::AttentionFwd<__nv_bfloat16, 128, rotor::cuda::Mask<true, -1, -1, 1, 0, 0>
// CHECK-NOT: rotor::cuda::Rope<
// CHECK: /* plan.json
func.func @fused(%q: tensor<1x8x?x128xbf16>, %k: tensor<1x2x?x128xbf16>, %v: tensor<1x2x?x128xbf16>, %p: tensor<?xi64>) -> tensor<1x8x?x128xbf16> {
  %o = rotor.attention %q, %k, %v rope_q(%p : tensor<?xi64>) rope_k(%p : tensor<?xi64>)
      {mask = #rotor.mask<causal = true>, rope_base = 500000.0 : f64}
      : tensor<1x8x?x128xbf16>, tensor<1x2x?x128xbf16>, tensor<1x2x?x128xbf16>
  return %o : tensor<1x8x?x128xbf16>
}
