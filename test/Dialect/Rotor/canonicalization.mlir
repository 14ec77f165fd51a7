// RUN: rotor-opt %s -split-input-file -canonicalize | FileCheck %s

// CHECK-LABEL: func @givens_zero_angles
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>)
// CHECK-NEXT: return %[[X]]
func.func @givens_zero_angles(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %t = arith.constant dense<0.0> : tensor<2xf32>
  %0 = rotor.givens %x, %t pairs [(0, 1), (2, 3)] : tensor<4x8xf32>, tensor<2xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// CHECK-LABEL: func @givens_no_rotation
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>, %{{.*}}: tensor<0xf32>)
// CHECK-NEXT: return %[[X]]
func.func @givens_no_rotation(%x: tensor<4x8xf32>, %t: tensor<0xf32>) -> tensor<4x8xf32> {
  %0 = rotor.givens %x, %t pairs [] : tensor<4x8xf32>, tensor<0xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// θ = 0 rotations disappear from a chain; the others stay.
// CHECK-LABEL: func @givens_drop_zero_angle
// CHECK: %[[T:.*]] = arith.constant dense<[5.000000e-01, 2.500000e-01]> : tensor<2xf32>
// CHECK: rotor.givens %{{.*}}, %[[T]] pairs [(0, 1), (4, 5)]
func.func @givens_drop_zero_angle(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %t = arith.constant dense<[0.5, 0.0, 0.25]> : tensor<3xf32>
  %0 = rotor.givens %x, %t pairs [(0, 1), (2, 3), (4, 5)] : tensor<4x8xf32>, tensor<3xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// Consecutive learned Givens chains merge into one chain.
// CHECK-LABEL: func @givens_merge_chain
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>, %[[A:.*]]: tensor<2xf32>, %[[B:.*]]: tensor<1xf32>)
// CHECK: %[[C:.*]] = tensor.concat dim(0) %[[A]], %[[B]] : (tensor<2xf32>, tensor<1xf32>) -> tensor<3xf32>
// CHECK: %[[G:.*]] = rotor.givens %[[X]], %[[C]] pairs [(0, 1), (2, 3), (1, 7)]
// CHECK-NOT: rotor.givens
// CHECK: return %[[G]]
func.func @givens_merge_chain(%x: tensor<4x8xf32>, %a: tensor<2xf32>, %b: tensor<1xf32>) -> tensor<4x8xf32> {
  %0 = rotor.givens %x, %a pairs [(0, 1), (2, 3)] : tensor<4x8xf32>, tensor<2xf32>
  %1 = rotor.givens %0, %b pairs [(1, 7)] : tensor<4x8xf32>, tensor<1xf32>
  return %1 : tensor<4x8xf32>
}

// -----

// The inner chain has another use: merging would compute it twice.
// CHECK-LABEL: func @givens_no_merge_shared
// CHECK-COUNT-2: rotor.givens
// CHECK-NOT: tensor.concat
func.func @givens_no_merge_shared(%x: tensor<4x8xf32>, %a: tensor<2xf32>, %b: tensor<1xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %0 = rotor.givens %x, %a pairs [(0, 1), (2, 3)] : tensor<4x8xf32>, tensor<2xf32>
  %1 = rotor.givens %0, %b pairs [(1, 7)] : tensor<4x8xf32>, tensor<1xf32>
  return %0, %1 : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// Constant chains merge with a constant angle vector.
// CHECK-LABEL: func @givens_merge_constant
// CHECK: %[[C:.*]] = arith.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
// CHECK: rotor.givens %{{.*}}, %[[C]] pairs [(0, 1), (2, 3)]
func.func @givens_merge_constant(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %a = arith.constant dense<1.0> : tensor<1xf32>
  %b = arith.constant dense<2.0> : tensor<1xf32>
  %0 = rotor.givens %x, %a pairs [(0, 1)] : tensor<4x8xf32>, tensor<1xf32>
  %1 = rotor.givens %0, %b pairs [(2, 3)] : tensor<4x8xf32>, tensor<1xf32>
  return %1 : tensor<4x8xf32>
}

// -----

// CHECK-LABEL: func @rotate_identity
// CHECK-SAME: (%[[X:.*]]: tensor<4x3xf32>)
// CHECK-NEXT: return %[[X]]
func.func @rotate_identity(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %r = arith.constant dense<[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]> : tensor<3x3xf32>
  %0 = rotor.rotate %x, %r : tensor<4x3xf32>, tensor<3x3xf32>
  return %0 : tensor<4x3xf32>
}

// -----

// CHECK-LABEL: func @rotate_not_identity
// CHECK: rotor.rotate
func.func @rotate_not_identity(%x: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %r = arith.constant dense<[[0.0, 1.0], [1.0, 0.0]]> : tensor<2x2xf32>
  %0 = rotor.rotate %x, %r : tensor<4x2xf32>, tensor<2x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

// Two constant rotations compose into their product; here a swap applied
// twice is the identity, which then folds away.
// CHECK-LABEL: func @rotate_compose_to_identity
// CHECK-SAME: (%[[X:.*]]: tensor<4x2xf32>)
// CHECK-NEXT: return %[[X]]
func.func @rotate_compose_to_identity(%x: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %r = arith.constant dense<[[0.0, 1.0], [1.0, 0.0]]> : tensor<2x2xf32>
  %0 = rotor.rotate %x, %r : tensor<4x2xf32>, tensor<2x2xf32>
  %1 = rotor.rotate %0, %r : tensor<4x2xf32>, tensor<2x2xf32>
  return %1 : tensor<4x2xf32>
}

// -----

// CHECK-LABEL: func @rotate_compose
// CHECK: %[[P:.*]] = arith.constant dense<{{\[}}[0.000000e+00, 2.000000e+00], [3.000000e+00, 0.000000e+00]]> : tensor<2x2xf32>
// CHECK: rotor.rotate %{{.*}}, %[[P]]
// CHECK-NOT: rotor.rotate
func.func @rotate_compose(%x: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %a = arith.constant dense<[[0.0, 1.0], [1.0, 0.0]]> : tensor<2x2xf32>
  %b = arith.constant dense<[[3.0, 0.0], [0.0, 2.0]]> : tensor<2x2xf32>
  %0 = rotor.rotate %x, %a : tensor<4x2xf32>, tensor<2x2xf32>
  %1 = rotor.rotate %0, %b : tensor<4x2xf32>, tensor<2x2xf32>
  return %1 : tensor<4x2xf32>
}

// -----

// Learned matrices stay a chain.
// CHECK-LABEL: func @rotate_learned
// CHECK-COUNT-2: rotor.rotate
func.func @rotate_learned(%x: tensor<4x2xf32>, %a: tensor<2x2xf32>, %b: tensor<2x2xf32>) -> tensor<4x2xf32> {
  %0 = rotor.rotate %x, %a : tensor<4x2xf32>, tensor<2x2xf32>
  %1 = rotor.rotate %0, %b : tensor<4x2xf32>, tensor<2x2xf32>
  return %1 : tensor<4x2xf32>
}

// -----

// Constant Givens then a constant rotate: one rotate by G·R. A rotation by
// pi/2 on (0, 1) maps e0 to e1, then R swaps the columns back.
// CHECK-LABEL: func @givens_then_rotate
// CHECK-SAME: (%[[X:.*]]: tensor<4x2xf32>)
// CHECK: %[[M:.*]] = arith.constant dense<{{\[}}[1.000000e+00, {{.*}}], [{{.*}}, -1.000000e+00]]> : tensor<2x2xf32>
// CHECK: %[[R:.*]] = rotor.rotate %[[X]], %[[M]]
// CHECK-NOT: rotor.givens
// CHECK: return %[[R]]
func.func @givens_then_rotate(%x: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %t = arith.constant dense<1.57079632679> : tensor<1xf32>
  %r = arith.constant dense<[[0.0, 1.0], [1.0, 0.0]]> : tensor<2x2xf32>
  %0 = rotor.givens %x, %t pairs [(0, 1)] : tensor<4x2xf32>, tensor<1xf32>
  %1 = rotor.rotate %0, %r : tensor<4x2xf32>, tensor<2x2xf32>
  return %1 : tensor<4x2xf32>
}

// -----

// CHECK-LABEL: func @rotate_then_givens
// CHECK: rotor.rotate
// CHECK-NOT: rotor.givens
func.func @rotate_then_givens(%x: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %t = arith.constant dense<0.3> : tensor<1xf32>
  %r = arith.constant dense<[[0.0, 1.0], [1.0, 0.0]]> : tensor<2x2xf32>
  %0 = rotor.rotate %x, %r : tensor<4x2xf32>, tensor<2x2xf32>
  %1 = rotor.givens %0, %t pairs [(0, 1)] : tensor<4x2xf32>, tensor<1xf32>
  return %1 : tensor<4x2xf32>
}

// -----

// Learned angles before a constant rotate: nothing to compose.
// CHECK-LABEL: func @givens_learned_then_rotate
// CHECK: rotor.givens
// CHECK: rotor.rotate
func.func @givens_learned_then_rotate(%x: tensor<4x2xf32>, %t: tensor<1xf32>) -> tensor<4x2xf32> {
  %r = arith.constant dense<[[0.0, 1.0], [1.0, 0.0]]> : tensor<2x2xf32>
  %0 = rotor.givens %x, %t pairs [(0, 1)] : tensor<4x2xf32>, tensor<1xf32>
  %1 = rotor.rotate %0, %r : tensor<4x2xf32>, tensor<2x2xf32>
  return %1 : tensor<4x2xf32>
}

// -----

// CHECK-LABEL: func @rope_rotary_dim_zero
// CHECK-SAME: (%[[X:.*]]: tensor<1x2x?x8xf32>
// CHECK-NEXT: return %[[X]]
func.func @rope_rotary_dim_zero(%x: tensor<1x2x?x8xf32>, %p: tensor<?xi64>) -> tensor<1x2x?x8xf32> {
  %0 = rotor.rope %x, %p {rotary_dim = 0 : i64} : tensor<1x2x?x8xf32>, tensor<?xi64>
  return %0 : tensor<1x2x?x8xf32>
}

// -----

// A rotary_dim equal to head_dim and an identity scaling are dropped.
// CHECK-LABEL: func @rope_normalize
// CHECK: rotor.rope %{{.*}}, %{{.*}} {base = 5.000000e+05 : f64} : tensor<1x2x?x8xf32>
// CHECK: rotor.rope %{{.*}}, %{{.*}} : tensor<1x2x?x8xf32>
// CHECK: rotor.rope %{{.*}}, %{{.*}} {rotary_dim = 4 : i64, scaling = #rotor.rope_scaling<kind = linear, factor = 2.000000e+00>}
func.func @rope_normalize(%x: tensor<1x2x?x8xf32>, %p: tensor<?xi64>) -> tensor<1x2x?x8xf32> {
  %0 = rotor.rope %x, %p {base = 500000.0 : f64, rotary_dim = 8 : i64, scaling = #rotor.rope_scaling<kind = none>} : tensor<1x2x?x8xf32>, tensor<?xi64>
  %1 = rotor.rope %0, %p {scaling = #rotor.rope_scaling<kind = linear, factor = 1.0>} : tensor<1x2x?x8xf32>, tensor<?xi64>
  %2 = rotor.rope %1, %p {rotary_dim = 4 : i64, scaling = #rotor.rope_scaling<kind = linear, factor = 2.0>} : tensor<1x2x?x8xf32>, tensor<?xi64>
  return %2 : tensor<1x2x?x8xf32>
}

// -----

// CHECK-LABEL: func @attention_unused_lse
// CHECK: rotor.attention
// CHECK-NOT: return_lse
func.func @attention_unused_lse(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  %0, %1 = rotor.attention %q, %q, %q return_lse {mask = #rotor.mask<causal = true>} : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return %0 : tensor<1x4x8x16xf32>
}

// -----

// Dropping the lse keeps a fused query rotation.
// CHECK-LABEL: func @attention_unused_lse_rotation
// CHECK: rotor.attention %arg0, %arg0, %arg0 givens_q(%arg1 : tensor<1xf32>) pairs [(0, 1)] rotate_q(%arg2 : tensor<16x16xf32>) :
func.func @attention_unused_lse_rotation(%q: tensor<1x4x8x16xf32>, %t: tensor<1xf32>, %r: tensor<16x16xf32>) -> tensor<1x4x8x16xf32> {
  %0, %1 = rotor.attention %q, %q, %q givens_q(%t : tensor<1xf32>) pairs [(0, 1)] rotate_q(%r : tensor<16x16xf32>) return_lse : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return %0 : tensor<1x4x8x16xf32>
}

// -----

// CHECK-LABEL: func @attention_used_lse
// CHECK: rotor.attention {{.*}} return_lse
func.func @attention_used_lse(%q: tensor<1x4x8x16xf32>) -> (tensor<1x4x8x16xf32>, tensor<1x4x8xf32>) {
  %0, %1 = rotor.attention %q, %q, %q return_lse : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return %0, %1 : tensor<1x4x8x16xf32>, tensor<1x4x8xf32>
}

// -----

// CHECK-LABEL: func @add_mul_identities
// CHECK-SAME: (%[[X:.*]]: tensor<2x3xf32>)
// CHECK-NEXT: return %[[X]]
func.func @add_mul_identities(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %z = arith.constant dense<0.0> : tensor<3xf32>
  %o = arith.constant dense<1.0> : tensor<2x3xf32>
  %0 = rotor.add %x, %z : tensor<2x3xf32>, tensor<3xf32>
  %1 = rotor.mul %o, %0 : tensor<2x3xf32>, tensor<2x3xf32>
  return %1 : tensor<2x3xf32>
}

// -----

// Adding zeros that broadcast x to a larger shape is not an identity.
// CHECK-LABEL: func @add_zero_broadcasting
// CHECK: rotor.add
func.func @add_zero_broadcasting(%x: tensor<3xf32>) -> tensor<2x3xf32> {
  %z = arith.constant dense<0.0> : tensor<2x3xf32>
  %0 = rotor.add %x, %z : tensor<3xf32>, tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// CHECK-LABEL: func @add_constants
// CHECK-NEXT: %[[C:.*]] = arith.constant dense<[4.000000e+00, 6.000000e+00]> : tensor<2xf32>
// CHECK-NEXT: return %[[C]]
func.func @add_constants() -> tensor<2xf32> {
  %a = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %b = arith.constant dense<[3.0, 4.0]> : tensor<2xf32>
  %0 = rotor.add %a, %b : tensor<2xf32>, tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

// CHECK-LABEL: func @relu_idempotent
// CHECK: rotor.relu
// CHECK-NOT: rotor.relu
func.func @relu_idempotent(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = rotor.relu %x : tensor<2x3xf32>
  %1 = rotor.relu %0 : tensor<2x3xf32>
  return %1 : tensor<2x3xf32>
}

// -----

// CHECK-LABEL: func @heads_round_trip
// CHECK-SAME: (%[[X:.*]]: tensor<2x?x64xf32>, %[[Y:.*]]: tensor<2x4x?x16xf32>)
// CHECK-NEXT: return %[[X]], %[[Y]]
func.func @heads_round_trip(%x: tensor<2x?x64xf32>, %y: tensor<2x4x?x16xf32>) -> (tensor<2x?x64xf32>, tensor<2x4x?x16xf32>) {
  %0 = rotor.split_heads %x into 4 heads : tensor<2x?x64xf32>
  %1 = rotor.merge_heads %0 : tensor<2x4x?x16xf32>
  %2 = rotor.merge_heads %y : tensor<2x4x?x16xf32>
  %3 = rotor.split_heads %2 into 4 heads : tensor<2x?x64xf32>
  return %1, %3 : tensor<2x?x64xf32>, tensor<2x4x?x16xf32>
}

// -----

// A different head count is a real relayout.
// CHECK-LABEL: func @heads_regroup
// CHECK: rotor.merge_heads
// CHECK: rotor.split_heads
func.func @heads_regroup(%y: tensor<2x4x?x16xf32>) -> tensor<2x8x?x8xf32> {
  %0 = rotor.merge_heads %y : tensor<2x4x?x16xf32>
  %1 = rotor.split_heads %0 into 8 heads : tensor<2x?x64xf32>
  return %1 : tensor<2x8x?x8xf32>
}

// -----

// Writing no rows leaves the cache as it is; one row is a real write.
// CHECK-LABEL: func @cache_write_nothing
// CHECK-SAME: %[[U:.*]]: tensor<1x2x0x8xf32>, %[[C:.*]]: tensor<1x2x?x8xf32>
// CHECK-NOT: rotor.cache_write
// CHECK: return %[[C]]
func.func @cache_write_nothing(%u: tensor<1x2x0x8xf32>, %c: tensor<1x2x?x8xf32>, %p: tensor<1xi64>) -> tensor<1x2x?x8xf32> {
  %0 = rotor.cache_write %u into %c at %p {axis = 2 : i64} : tensor<1x2x0x8xf32> into tensor<1x2x?x8xf32>, tensor<1xi64>
  return %0 : tensor<1x2x?x8xf32>
}

// CHECK-LABEL: func @cache_write_one_row
// CHECK: rotor.cache_write
func.func @cache_write_one_row(%u: tensor<1x2x1x8xf32>, %c: tensor<1x2x?x8xf32>, %p: tensor<1xi64>) -> tensor<1x2x?x8xf32> {
  %0 = rotor.cache_write %u into %c at %p {axis = 2 : i64} : tensor<1x2x1x8xf32> into tensor<1x2x?x8xf32>, tensor<1xi64>
  return %0 : tensor<1x2x?x8xf32>
}
