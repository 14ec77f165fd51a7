// RUN: rotorc %s -emit=cuda | FileCheck %s

// A linear with an RMSNorm prologue (as rotor-fuse-linear forms it for the
// CPU) runs the RmsNorm kernel into a scratch buffer, then the cuBLAS
// products; the CUDA pipeline itself keeps norms unfused.

// CHECK: // rotor::cuda::RmsNorm<float, float>
// CHECK: p.eps = 1.00000000000000008e-05;
// CHECK: // rotor::cuda::Swiglu<float>
// CHECK: /* plan.json
// CHECK-COUNT-2: "op": "gemm"
func.func @gate_up(%x: tensor<2x?x64xf32>, %g: tensor<64xf32>, %wg: tensor<96x64xf32>, %wu: tensor<96x64xf32>) -> tensor<2x?x96xf32> {
  %y = rotor.fused_gate_up %x, %wg, %wu rms_norm(%g : tensor<64xf32>) {norm_epsilon = 1.0e-05 : f64}
      : tensor<2x?x64xf32>, tensor<96x64xf32>, tensor<96x64xf32>
  return %y : tensor<2x?x96xf32>
}
