// RUN: rotorc %s -emit=cuda | FileCheck %s

// rotor.givens_grad (the backward of rotor.givens, from rotor-autodiff):
// GivensGrad computes dx and per-block angle sums into a (264, N) f32
// scratch buffer on a fixed grid of 264 blocks; GivensGradReduce sums the
// blocks into the angles' cotangent.

// CHECK: // rotor::cuda::GivensGrad<__nv_bfloat16, float, 64, rotor::cuda::GivensPairs<0, 1, 1, 63, 0, 1>>
// CHECK: p.x = (const __nv_bfloat16 *)a.ptr[0];
// CHECK-NEXT: p.dy = (const __nv_bfloat16 *)a.ptr[1];
// CHECK-NEXT: p.dx = (__nv_bfloat16 *)a.ptr[2];
// CHECK-NEXT: p.angles = (const float *)a.ptr[3];
// CHECK-NEXT: p.partial = (float *)a.ptr[4];
// CHECK-NEXT: p.rows = a.dim[0];
// CHECK: // rotor::cuda::GivensGradReduce<float>
// CHECK: p.partial = (const float *)a.ptr[0];
// CHECK-NEXT: p.out = (float *)a.ptr[1];
// CHECK-NEXT: p.blocks = a.dim[0];
// CHECK-NEXT: p.n = a.dim[1];
// The plan: symbols 5 = 264 blocks, 4 = 3 rotations; value 3 is the
// (264, 3) scratch, written by the first launch and read by the second.
// CHECK: /* plan.json
// CHECK: "grid": [
// CHECK-NEXT: 5,
// CHECK: "writes": [
// CHECK-NEXT: 4,
// CHECK-NEXT: 3
// CHECK: "kernel": 1,
// CHECK: "ptrs": [
// CHECK-NEXT: 3,
// CHECK-NEXT: 5
// CHECK: "symbols": [
// CHECK-COUNT-3: "const",
// CHECK: "const",
// CHECK-NEXT: 264
// CHECK: "values": [
// CHECK: "f32",
// CHECK-NEXT: [
// CHECK-NEXT: 4
// CHECK-NEXT: ]
// CHECK: "f32",
// CHECK-NEXT: [
// CHECK-NEXT: 5,
// CHECK-NEXT: 4
// CHECK-NEXT: ]
func.func @givens_grad(%x: tensor<2x?x64xbf16>, %dy: tensor<2x?x64xbf16>, %t: tensor<3xf32>) -> (tensor<2x?x64xbf16>, tensor<3xf32>) {
  %dx, %dt = rotor.givens_grad %x, %dy, %t pairs [(0, 1), (1, 63), (0, 1)] : tensor<2x?x64xbf16>, tensor<3xf32>
  return %dx, %dt : tensor<2x?x64xbf16>, tensor<3xf32>
}
