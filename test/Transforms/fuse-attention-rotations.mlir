// RUN: rotor-opt %s -split-input-file --rotor-fuse-attention-rotations | FileCheck %s
// RUN: rotor-opt %s -split-input-file --rotor-fuse-attention-rotations --rotor-fuse-attention-rope | FileCheck %s --check-prefix=ROPE
// RUN: rotor-opt %s -split-input-file --rotor-fuse-attention-rotations="report=true" -o /dev/null 2>&1 | FileCheck %s --check-prefix=REPORT

// The whole chain x · G_0 · G_1 · R moves into the attention op.
// CHECK-LABEL: func @givens_then_rotate
// CHECK-SAME: (%[[Q:.*]]: tensor<1x8x?x64xf32>, %[[K:.*]]: tensor<1x2x?x64xf32>, %[[V:.*]]: tensor<1x2x?x64xf32>, %[[T:.*]]: tensor<2xf32>, %[[R:.*]]: tensor<64x64xf32>)
// CHECK-NOT: rotor.givens
// CHECK-NOT: rotor.rotate
// CHECK: %[[O:.*]] = rotor.attention %[[Q]], %[[K]], %[[V]] givens_q(%[[T]] : tensor<2xf32>) pairs [(0, 1), (2, 5)] rotate_q(%[[R]] : tensor<64x64xf32>) {mask = #rotor.mask<causal = true>}
// CHECK-NEXT: return %[[O]]
// REPORT: rotor-fuse-attention-rotations: rotor.rotate of the queries into rotor.attention at {{.*}}: saves 4096 bytes per token of tensor<1x8x?x64xf32>
// REPORT: rotor-fuse-attention-rotations: rotor.givens of the queries into rotor.attention at {{.*}}: saves 4096 bytes per token of tensor<1x8x?x64xf32>
func.func @givens_then_rotate(%q: tensor<1x8x?x64xf32>, %k: tensor<1x2x?x64xf32>, %v: tensor<1x2x?x64xf32>, %t: tensor<2xf32>, %r: tensor<64x64xf32>) -> tensor<1x8x?x64xf32> {
  %qg = rotor.givens %q, %t pairs [(0, 1), (2, 5)] : tensor<1x8x?x64xf32>, tensor<2xf32>
  %qr = rotor.rotate %qg, %r : tensor<1x8x?x64xf32>, tensor<64x64xf32>
  %o = rotor.attention %qr, %k, %v {mask = #rotor.mask<causal = true>} : tensor<1x8x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
  return %o : tensor<1x8x?x64xf32>
}

// -----

// A chain alone, with static shapes (the report counts bytes), lse kept.
// CHECK-LABEL: func @givens_alone
// CHECK: %{{.*}}, %{{.*}} = rotor.attention %arg0, %arg1, %arg1 givens_q(%arg2 : tensor<1xbf16>) pairs [(3, 1)] return_lse :
// REPORT: rotor-fuse-attention-rotations: rotor.givens of the queries into rotor.attention at {{.*}}: saves 2048 bytes
func.func @givens_alone(%q: tensor<1x4x8x16xbf16>, %k: tensor<1x4x8x16xbf16>, %t: tensor<1xbf16>) -> (tensor<1x4x8x16xbf16>, tensor<1x4x8xf32>) {
  %qg = rotor.givens %q, %t pairs [(3, 1)] : tensor<1x4x8x16xbf16>, tensor<1xbf16>
  %o, %l = rotor.attention %qg, %k, %k return_lse : tensor<1x4x8x16xbf16>, tensor<1x4x8x16xbf16>, tensor<1x4x8x16xbf16>
  return %o, %l : tensor<1x4x8x16xbf16>, tensor<1x4x8xf32>
}

// -----

// A matrix alone; a fused rope of the keys does not interfere.
// CHECK-LABEL: func @rotate_with_key_rope
// CHECK-NOT: rotor.rotate
// CHECK: rotor.attention %arg0, %arg1, %arg1 rope_k(%arg3 : tensor<?xi64>) rotate_q(%arg2 : tensor<16x16xf32>) :
func.func @rotate_with_key_rope(%q: tensor<1x4x?x16xf32>, %k: tensor<1x4x?x16xf32>, %r: tensor<16x16xf32>, %p: tensor<?xi64>) -> tensor<1x4x?x16xf32> {
  %qr = rotor.rotate %q, %r : tensor<1x4x?x16xf32>, tensor<16x16xf32>
  %o = rotor.attention %qr, %k, %k rope_k(%p : tensor<?xi64>) : tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>
  return %o : tensor<1x4x?x16xf32>
}

// -----

// rotate(givens(rope(q))): the chain fuses; with the rope fusion after it
// (the CPU pipeline's order) the rope too, giving the op's own order.
// CHECK-LABEL: func @rope_givens_rotate
// CHECK: %[[QR:.*]] = rotor.rope %arg0, %arg5
// CHECK: rotor.attention %[[QR]], %arg1, %arg2 givens_q(%arg3 : tensor<2xf32>) pairs [(0, 1), (1, 2)] rotate_q(%arg4 : tensor<32x32xf32>) {mask
// ROPE-LABEL: func @rope_givens_rotate
// ROPE-NOT: rotor.rope
// ROPE: rotor.attention %arg0, %arg1, %arg2 rope_q(%arg5 : tensor<?xi64>) givens_q(%arg3 : tensor<2xf32>) pairs [(0, 1), (1, 2)] rotate_q(%arg4 : tensor<32x32xf32>) {mask = #rotor.mask<causal = true>, rope_base = 1.000000e+04 : f64}
func.func @rope_givens_rotate(%q: tensor<1x4x?x32xf32>, %k: tensor<1x2x?x32xf32>, %v: tensor<1x2x?x32xf32>, %t: tensor<2xf32>, %r: tensor<32x32xf32>, %p: tensor<?xi64>) -> tensor<1x4x?x32xf32> {
  %q1 = rotor.rope %q, %p {base = 10000.0 : f64} : tensor<1x4x?x32xf32>, tensor<?xi64>
  %q2 = rotor.givens %q1, %t pairs [(0, 1), (1, 2)] : tensor<1x4x?x32xf32>, tensor<2xf32>
  %q3 = rotor.rotate %q2, %r : tensor<1x4x?x32xf32>, tensor<32x32xf32>
  %o = rotor.attention %q3, %k, %v {mask = #rotor.mask<causal = true>} : tensor<1x4x?x32xf32>, tensor<1x2x?x32xf32>, tensor<1x2x?x32xf32>
  return %o : tensor<1x4x?x32xf32>
}

// -----

// Not fused: the rotated queries have another use.
// CHECK-LABEL: func @other_use
// CHECK: %[[QG:.*]] = rotor.givens
// CHECK: rotor.attention %[[QG]], %arg1, %arg1 :
// CHECK: return
func.func @other_use(%q: tensor<1x4x?x16xf32>, %k: tensor<1x4x?x16xf32>, %t: tensor<1xf32>) -> (tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>) {
  %qg = rotor.givens %q, %t pairs [(0, 1)] : tensor<1x4x?x16xf32>, tensor<1xf32>
  %o = rotor.attention %qg, %k, %k : tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>
  return %o, %qg : tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>
}

// -----

// Not fused: chains on the keys (rotor-move-key-rotations moves them) and
// on the values, and the same rotated tensor as queries and keys.
// CHECK-LABEL: func @keys_and_values
// CHECK: %[[KG:.*]] = rotor.givens %arg1
// CHECK: %[[VR:.*]] = rotor.rotate %arg1
// CHECK: rotor.attention %arg0, %[[KG]], %[[VR]] :
// CHECK: %[[QG:.*]] = rotor.givens %arg0
// CHECK: rotor.attention %[[QG]], %[[QG]], %arg1 :
func.func @keys_and_values(%q: tensor<1x4x?x16xf32>, %k: tensor<1x4x?x16xf32>, %t: tensor<1xf32>, %r: tensor<16x16xf32>) -> (tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>) {
  %kg = rotor.givens %k, %t pairs [(0, 1)] : tensor<1x4x?x16xf32>, tensor<1xf32>
  %vr = rotor.rotate %k, %r : tensor<1x4x?x16xf32>, tensor<16x16xf32>
  %o = rotor.attention %q, %kg, %vr : tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>
  %qg = rotor.givens %q, %t pairs [(0, 1)] : tensor<1x4x?x16xf32>, tensor<1xf32>
  %o2 = rotor.attention %qg, %qg, %k : tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>
  return %o, %o2 : tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>
}

// -----

// Mismatched order: givens(rotate(q)) would need the matrix before the
// chain, so only the outer givens fuses; two chains: only the outer one.
// CHECK-LABEL: func @mismatched_order
// CHECK: %[[QR:.*]] = rotor.rotate %arg0, %arg3
// CHECK: rotor.attention %[[QR]], %arg1, %arg1 givens_q(%arg2 : tensor<1xf32>) pairs [(0, 1)] :
// CHECK: %[[QG:.*]] = rotor.givens %arg0, %arg2 pairs [(2, 3)]
// CHECK: rotor.attention %[[QG]], %arg1, %arg1 givens_q(%arg2 : tensor<1xf32>) pairs [(0, 1)] :
func.func @mismatched_order(%q: tensor<1x4x?x16xf32>, %k: tensor<1x4x?x16xf32>, %t: tensor<1xf32>, %r: tensor<16x16xf32>) -> (tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>) {
  %qr = rotor.rotate %q, %r : tensor<1x4x?x16xf32>, tensor<16x16xf32>
  %qg = rotor.givens %qr, %t pairs [(0, 1)] : tensor<1x4x?x16xf32>, tensor<1xf32>
  %o = rotor.attention %qg, %k, %k : tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>
  %g1 = rotor.givens %q, %t pairs [(2, 3)] : tensor<1x4x?x16xf32>, tensor<1xf32>
  %g2 = rotor.givens %g1, %t pairs [(0, 1)] : tensor<1x4x?x16xf32>, tensor<1xf32>
  %o2 = rotor.attention %g2, %k, %k : tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>
  return %o, %o2 : tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>
}

// -----

// Not fused: the queries' rope is already fused (the chain would apply
// before it), and a dynamic head dimension.
// CHECK-LABEL: func @rope_fused_or_dynamic
// CHECK: %[[QG:.*]] = rotor.givens %arg0
// CHECK: rotor.attention %[[QG]], %arg1, %arg1 rope_q(%arg3 : tensor<?xi64>) {rope_base
// CHECK: %[[DG:.*]] = rotor.givens %arg4
// CHECK: rotor.attention %[[DG]], %arg4, %arg4 :
func.func @rope_fused_or_dynamic(%q: tensor<1x4x?x16xf32>, %k: tensor<1x4x?x16xf32>, %t: tensor<1xf32>, %p: tensor<?xi64>, %d: tensor<1x4x8x?xf32>) -> (tensor<1x4x?x16xf32>, tensor<1x4x8x?xf32>) {
  %qg = rotor.givens %q, %t pairs [(0, 1)] : tensor<1x4x?x16xf32>, tensor<1xf32>
  %o = rotor.attention %qg, %k, %k rope_q(%p : tensor<?xi64>) {rope_base = 10000.0 : f64} : tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>
  %dg = rotor.givens %d, %t pairs [(0, 1)] : tensor<1x4x8x?xf32>, tensor<1xf32>
  %o2 = rotor.attention %dg, %d, %d : tensor<1x4x8x?xf32>, tensor<1x4x8x?xf32>, tensor<1x4x8x?xf32>
  return %o, %o2 : tensor<1x4x?x16xf32>, tensor<1x4x8x?xf32>
}
