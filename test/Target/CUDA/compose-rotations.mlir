// RUN: rotorc %s -emit=cuda | FileCheck %s
// RUN: rotorc %s -emit=cuda --compose-rotations=false | FileCheck %s --check-prefix=OFF

// A Givens chain then a matrix over many rows (rotor-compose-rotations in
// the CUDA pipeline): the identity is computed by a kernel (not embedded as
// data), the Givens kernel rotates its 128 rows, a gemm multiplies them by
// the matrix, and one gemm applies the product to x.

// CHECK: // the identity: a.dim[0] elements, rows of a.dim[1]
// CHECK-NEXT: extern "C" __global__ void __launch_bounds__(256)
// CHECK-NEXT: rotor_k0(const __grid_constant__ rotor::cuda::LaunchArgs a) {
// CHECK: fromF32<__nv_bfloat16>(i / a.dim[1] == i % a.dim[1] ? 1.f : 0.f);
// CHECK: // rotor::cuda::Givens<__nv_bfloat16, __nv_bfloat16, 128, rotor::cuda::GivensPairs<0, 1, 2, 5>>
// CHECK-NOT: __device__ const float
// CHECK: /* plan.json
// The identity (value I), the Givens kernel on it (G), G x matrix (M),
// then x (value 0) x M.
// CHECK: "kernel": 0,
// CHECK-NEXT: "op": "launch",
// CHECK-NEXT: "ptrs": [
// CHECK-NEXT: [[I:[0-9]+]]
// CHECK: "kernel": 1,
// CHECK-NEXT: "op": "launch",
// CHECK-NEXT: "ptrs": [
// CHECK-NEXT: [[I]],
// CHECK-NEXT: [[G:[0-9]+]],
// CHECK: "a": [[G]],
// CHECK-NEXT: "alpha": 1,
// CHECK-NEXT: "b": 2,
// CHECK-NEXT: "batch":
// CHECK-NEXT: "beta": 0,
// CHECK-NEXT: "c": [[M:[0-9]+]],
// CHECK: "op": "gemm",
// CHECK: "a": 0,
// CHECK-NEXT: "alpha": 1,
// CHECK-NEXT: "b": [[M]],
// CHECK: "op": "gemm",

// Without the pass: the Givens kernel on x, then one gemm.
// OFF-NOT: the identity
// OFF: // rotor::cuda::Givens<__nv_bfloat16, __nv_bfloat16, 128, rotor::cuda::GivensPairs<0, 1, 2, 5>>
// OFF: "kernel": 0,
// OFF-NEXT: "op": "launch",
// OFF-NEXT: "ptrs": [
// OFF-NEXT: 0,
// OFF-COUNT-1: "op": "gemm",
func.func @givens_block(%x: tensor<2x32x?x128xbf16>, %a: tensor<2xbf16>, %r: tensor<128x128xbf16>) -> tensor<2x32x?x128xbf16> {
  %g = rotor.givens %x, %a pairs [(0, 1), (2, 5)] : tensor<2x32x?x128xbf16>, tensor<2xbf16>
  %y = rotor.rotate %g, %r : tensor<2x32x?x128xbf16>, tensor<128x128xbf16>
  return %y : tensor<2x32x?x128xbf16>
}
