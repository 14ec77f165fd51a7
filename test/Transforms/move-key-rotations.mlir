// RUN: rotor-opt %s -split-input-file --rotor-move-key-rotations | FileCheck %s
// RUN: rotor-opt %s -split-input-file --rotor-move-key-rotations="report=true" -o /dev/null 2>&1 | FileCheck %s --check-prefix=REPORT

// Equal Givens chains on q and k cancel.
// CHECK-LABEL: func @equal_chains_cancel
// CHECK-SAME: (%[[Q:.*]]: tensor<1x4x?x16xf32>, %[[K:.*]]: tensor<1x2x?x16xf32>, %[[V:.*]]: tensor<1x2x?x16xf32>, %[[T:.*]]: tensor<3xf32>)
// CHECK-NOT: rotor.givens
// CHECK: %[[O:.*]] = rotor.attention %[[Q]], %[[K]], %[[V]] {mask = #rotor.mask<causal = true>}
// CHECK-NEXT: return %[[O]]
// REPORT: rotor-move-key-rotations: equal rotor.givens chains on q and k cancel at
func.func @equal_chains_cancel(%q: tensor<1x4x?x16xf32>, %k: tensor<1x2x?x16xf32>, %v: tensor<1x2x?x16xf32>, %t: tensor<3xf32>) -> tensor<1x4x?x16xf32> {
  %qg = rotor.givens %q, %t pairs [(0, 1), (2, 5), (1, 7)] : tensor<1x4x?x16xf32>, tensor<3xf32>
  %kg = rotor.givens %k, %t pairs [(0, 1), (2, 5), (1, 7)] : tensor<1x2x?x16xf32>, tensor<3xf32>
  %o = rotor.attention %qg, %kg, %v {mask = #rotor.mask<causal = true>} : tensor<1x4x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>
  return %o : tensor<1x4x?x16xf32>
}

// -----

// A learned chain on the keys only: its inverse on the queries (reversed
// order, swapped planes, reversed angles).
// CHECK-LABEL: func @key_chain_moves
// CHECK-SAME: (%[[Q:.*]]: tensor<1x4x?x16xf32>, %[[K:.*]]: tensor<1x2x?x16xf32>, %[[V:.*]]: tensor<1x2x?x16xf32>, %[[T:.*]]: tensor<3xf32>)
// CHECK: %[[R:.*]] = linalg.generic {indexing_maps = [#{{.*}}, #{{.*}}], iterator_types = ["parallel"]} ins(%[[T]] : tensor<3xf32>)
// CHECK: %[[QG:.*]] = rotor.givens %[[Q]], %[[R]] pairs [(7, 1), (5, 2), (1, 0)]
// CHECK: rotor.attention %[[QG]], %[[K]], %[[V]] :
// REPORT: rotor-move-key-rotations: rotor.givens of the keys onto the queries at
func.func @key_chain_moves(%q: tensor<1x4x?x16xf32>, %k: tensor<1x2x?x16xf32>, %v: tensor<1x2x?x16xf32>, %t: tensor<3xf32>) -> tensor<1x4x?x16xf32> {
  %kg = rotor.givens %k, %t pairs [(0, 1), (2, 5), (1, 7)] : tensor<1x2x?x16xf32>, tensor<3xf32>
  %o = rotor.attention %q, %kg, %v : tensor<1x4x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>
  return %o : tensor<1x4x?x16xf32>
}

// -----

// x · (k · R)ᵀ = (x · Rᵀ) · kᵀ; a chain under the rotation moves next.
// CHECK-LABEL: func @rotation_moves
// CHECK-SAME: (%[[Q:.*]]: tensor<1x4x?x16xf32>, %[[K:.*]]: tensor<1x2x?x16xf32>, %[[V:.*]]: tensor<1x2x?x16xf32>, %[[T:.*]]: tensor<1xf32>, %[[M:.*]]: tensor<16x16xf32>)
// CHECK: %[[MT:.*]] = linalg.transpose ins(%[[M]] : tensor<16x16xf32>) outs(%{{.*}} : tensor<16x16xf32>) permutation = [1, 0]
// CHECK: %[[QR:.*]] = rotor.rotate %[[Q]], %[[MT]]
// CHECK: %[[QG:.*]] = rotor.givens %[[QR]], %[[T]] pairs [(3, 2)]
// CHECK: rotor.attention %[[QG]], %[[K]], %[[V]] :
func.func @rotation_moves(%q: tensor<1x4x?x16xf32>, %k: tensor<1x2x?x16xf32>, %v: tensor<1x2x?x16xf32>, %t: tensor<1xf32>, %m: tensor<16x16xf32>) -> tensor<1x4x?x16xf32> {
  %kg = rotor.givens %k, %t pairs [(2, 3)] : tensor<1x2x?x16xf32>, tensor<1xf32>
  %kr = rotor.rotate %kg, %m : tensor<1x2x?x16xf32>, tensor<16x16xf32>
  %o = rotor.attention %q, %kr, %v : tensor<1x4x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>
  return %o : tensor<1x4x?x16xf32>
}

// -----

// Must not touch: rotated keys with another use (the KV cache), and an
// attention with a fused rope.
// CHECK-LABEL: func @untouched
// CHECK: %[[KG:.*]] = rotor.givens %arg1
// CHECK: rotor.attention %arg0, %[[KG]]
// CHECK: %[[KG2:.*]] = rotor.givens %arg1
// CHECK: rotor.attention %arg0, %[[KG2]], %arg1 rope_q(
func.func @untouched(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %t: tensor<1xf32>, %pos: tensor<8xi64>) -> (tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x4x8x16xf32>) {
  %kg = rotor.givens %k, %t pairs [(2, 3)] : tensor<1x2x8x16xf32>, tensor<1xf32>
  %o = rotor.attention %q, %kg, %k : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>
  %kg2 = rotor.givens %k, %t pairs [(2, 3)] : tensor<1x2x8x16xf32>, tensor<1xf32>
  %o2 = rotor.attention %q, %kg2, %k rope_q(%pos : tensor<8xi64>) : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>
  return %o, %kg, %o2 : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x4x8x16xf32>
}
