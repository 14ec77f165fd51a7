// RUN: rotorc %s -emit=cuda 2>&1 | FileCheck %s

// The cotangent of a learned rope base: the inverse frequencies of the
// learned base (RopeInvFreq), per-block partial sums in f64 (RopeBaseGrad,
// 264 blocks) and their sum in order (GivensGradReduce, n = 1).

// CHECK: // rotor::cuda::RopeInvFreq<48, rotor::cuda::RopeScaling::linear, long long, float>
// CHECK: p.learned_base = (const float *)
// CHECK: p.factor = 2.0{{0*}}e+00;
// CHECK: // rotor::cuda::RopeBaseGrad<__nv_bfloat16, long long, float, 64, 48, true, false>
// CHECK: p.partial = (float *)
// CHECK: // rotor::cuda::GivensGradReduce<float>
// CHECK-LABEL: "name": "rotor_entry_base_grad"
// CHECK: "kernel": 0,
// CHECK: "kernel": 1,
// CHECK: "kernel": 2,
func.func @base_grad(%x: tensor<2x3x?x64xbf16>, %dy: tensor<2x3x?x64xbf16>, %p: tensor<?xi64>, %b: tensor<f32>) -> tensor<f32> {
  %g = rotor.rope_base_grad %x, %dy, %p base(%b : tensor<f32>)
      {rotary_dim = 48 : i64, layout = #rotor.rope_layout<interleaved>,
       scaling = #rotor.rope_scaling<kind = linear, factor = 2.0>}
      : tensor<2x3x?x64xbf16>, tensor<?xi64>
  return %g : tensor<f32>
}
