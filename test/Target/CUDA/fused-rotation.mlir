// RUN: rotorc %s -emit=cuda | FileCheck %s

// An attention op with a fused query rotation (as
// rotor-fuse-attention-rotations forms it) runs, in the op's order, the
// Rope kernel, the Givens kernel and a gemm with the matrix on scratch
// copies of q, then attention on the last copy.

// CHECK: // rotor::cuda::Rope<__nv_bfloat16, long long, 128, 128, false, false>
// CHECK: // rotor::cuda::Givens<__nv_bfloat16, float, 128, rotor::cuda::GivensPairs<0, 1, 127, 5>>
// CHECK: // rotor::cuda::AttentionFwd<__nv_bfloat16, 128, rotor::cuda::Mask<true, -1, -1, 1, 0, 0>
// CHECK-NOT: rotor::cuda::Givens<
// CHECK: /* plan.json
// The plan: the rope writes R from q (value 0), the Givens kernel G from R,
// the gemm M = G x matrix (value 5), and the attention reads M as q.
// CHECK: "kernel": 1,
// CHECK-NEXT: "op": "launch",
// CHECK-NEXT: "ptrs": [
// CHECK-NEXT: 0,
// CHECK-NEXT: [[R:[0-9]+]],
// CHECK: "kernel": 2,
// CHECK-NEXT: "op": "launch",
// CHECK-NEXT: "ptrs": [
// CHECK-NEXT: [[R]],
// CHECK-NEXT: [[G:[0-9]+]],
// CHECK-NEXT: 4
// CHECK: "a": [[G]],
// CHECK-NEXT: "alpha": 1,
// CHECK-NEXT: "b": 5,
// CHECK-NEXT: "batch":
// CHECK-NEXT: "beta": 0,
// CHECK-NEXT: "c": [[M:[0-9]+]],
// CHECK: "op": "gemm",
// CHECK: "kernel": 3,
// CHECK-NEXT: "op": "launch",
// CHECK-NEXT: "ptrs": [
// CHECK-NEXT: [[M]],
// CHECK-NEXT: 1,
// CHECK-NEXT: 2,
func.func @fused(%q: tensor<1x8x?x128xbf16>, %k: tensor<1x2x?x128xbf16>, %v: tensor<1x2x?x128xbf16>, %p: tensor<?xi64>, %t: tensor<2xf32>, %r: tensor<128x128xbf16>) -> tensor<1x8x?x128xbf16> {
  %o = rotor.attention %q, %k, %v rope_q(%p : tensor<?xi64>)
      givens_q(%t : tensor<2xf32>) pairs [(0, 1), (127, 5)]
      rotate_q(%r : tensor<128x128xbf16>)
      {mask = #rotor.mask<causal = true>, rope_base = 500000.0 : f64}
      : tensor<1x8x?x128xbf16>, tensor<1x2x?x128xbf16>, tensor<1x2x?x128xbf16>
  return %o : tensor<1x8x?x128xbf16>
}
