// RUN: rotor-opt %s -split-input-file --rotor-pack-gqa-heads | FileCheck %s
// RUN: rotor-opt %s -split-input-file --rotor-pack-gqa-heads="max-queries=2" | FileCheck %s --check-prefix=SMALL
// RUN: rotor-opt %s -split-input-file --rotor-pack-gqa-heads="report=true" -o /dev/null 2>&1 | FileCheck %s --check-prefix=REPORT

// Decoding with 4 query heads per key/value head: reshapes only.
// CHECK-LABEL: func @decode
// CHECK-SAME: (%[[Q:.*]]: tensor<2x8x1x64xf32>, %[[K:.*]]: tensor<2x2x?x64xf32>, %[[V:.*]]: tensor<2x2x?x32xf32>)
// CHECK: %[[E:.*]] = tensor.expand_shape %[[Q]] {{\[}}[0], [1, 2], [3], [4]] output_shape [2, 2, 4, 1, 64] : tensor<2x8x1x64xf32> into tensor<2x2x4x1x64xf32>
// CHECK: %[[P:.*]] = tensor.collapse_shape %[[E]] {{\[}}[0], [1], [2, 3], [4]] : tensor<2x2x4x1x64xf32> into tensor<2x2x4x64xf32>
// CHECK: %[[A:.*]] = rotor.attention %[[P]], %[[K]], %[[V]] {softcap = 3.000000e+01 : f64} : tensor<2x2x4x64xf32>, tensor<2x2x?x64xf32>, tensor<2x2x?x32xf32>
// CHECK: %[[U:.*]] = tensor.expand_shape %[[A]] {{\[}}[0], [1], [2, 3], [4]] output_shape [2, 2, 4, 1, 32] : tensor<2x2x4x32xf32> into tensor<2x2x4x1x32xf32>
// CHECK: %[[O:.*]] = tensor.collapse_shape %[[U]] {{\[}}[0], [1, 2], [3], [4]] : tensor<2x2x4x1x32xf32> into tensor<2x8x1x32xf32>
// CHECK: return %[[O]]
// SMALL-LABEL: func @decode
// SMALL: tensor.collapse_shape
// REPORT: rotor-pack-gqa-heads: 4 query heads of 1 query per key/value head into one tile at {{.*}}: keys and values read once per group instead of 4 times
func.func @decode(%q: tensor<2x8x1x64xf32>, %k: tensor<2x2x?x64xf32>, %v: tensor<2x2x?x32xf32>) -> tensor<2x8x1x32xf32> {
  %o = rotor.attention %q, %k, %v {softcap = 30.0 : f64} : tensor<2x8x1x64xf32>, tensor<2x2x?x64xf32>, tensor<2x2x?x32xf32>
  return %o : tensor<2x8x1x32xf32>
}

// -----

// A few queries (speculative decoding) still pack; not with max-queries=2.
// CHECK-LABEL: func @few_queries
// CHECK: rotor.attention {{.*}} : tensor<1x1x28x16xf32>, tensor<1x1x?x16xf32>, tensor<1x1x?x16xf32>
// SMALL-LABEL: func @few_queries
// SMALL-NOT: tensor.collapse_shape
func.func @few_queries(%q: tensor<1x7x4x16xf32>, %k: tensor<1x1x?x16xf32>) -> tensor<1x7x4x16xf32> {
  %o = rotor.attention %q, %k, %k : tensor<1x7x4x16xf32>, tensor<1x1x?x16xf32>, tensor<1x1x?x16xf32>
  return %o : tensor<1x7x4x16xf32>
}

// -----

// Must not touch: positions matter (a mask, a bias, a fused rope), an lse
// per query head, no grouping, full tiles, dynamic query length.
// CHECK-LABEL: func @untouched
// CHECK-NOT: tensor.expand_shape
// CHECK-NOT: tensor.collapse_shape
// CHECK: return
func.func @untouched(%q: tensor<1x4x1x16xf32>, %k: tensor<1x2x?x16xf32>, %t: tensor<4x8xf32>, %pos: tensor<1xi64>, %q4: tensor<1x2x1x16xf32>, %ql: tensor<1x4x64x16xf32>, %qd: tensor<1x4x?x16xf32>) -> (tensor<1x4x1x16xf32>, tensor<1x4x1x16xf32>, tensor<1x4x1x16xf32>, tensor<1x4x1xf32>, tensor<1x2x1x16xf32>, tensor<1x4x64x16xf32>, tensor<1x4x?x16xf32>) {
  %0 = rotor.attention %q, %k, %k {mask = #rotor.mask<causal = true, window_left = 8>} : tensor<1x4x1x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>
  %1 = rotor.attention %q, %k, %k bias(%t : tensor<4x8xf32>) : tensor<1x4x1x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>
  %2 = rotor.attention %q, %k, %k rope_q(%pos : tensor<1xi64>) : tensor<1x4x1x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>
  %3, %lse = rotor.attention %q, %k, %k return_lse : tensor<1x4x1x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>
  %4 = rotor.attention %q4, %k, %k : tensor<1x2x1x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>
  %5 = rotor.attention %ql, %k, %k : tensor<1x4x64x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>
  %6 = rotor.attention %qd, %k, %k : tensor<1x4x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>
  return %0, %1, %2, %lse, %4, %5, %6 : tensor<1x4x1x16xf32>, tensor<1x4x1x16xf32>, tensor<1x4x1x16xf32>, tensor<1x4x1xf32>, tensor<1x2x1x16xf32>, tensor<1x4x64x16xf32>, tensor<1x4x?x16xf32>
}

// -----

// Must not touch: with query_start the number of existing keys is
// query_start + Sq, which packing the heads into the queries would change.
// CHECK-LABEL: func @static_cache
// CHECK-NOT: tensor.collapse_shape
// CHECK: rotor.attention %{{.*}} query_start(%{{.*}} : tensor<1xi64>) : tensor<1x4x1x16xf32>
func.func @static_cache(%q: tensor<1x4x1x16xf32>, %k: tensor<1x2x?x16xf32>, %p: tensor<1xi64>) -> tensor<1x4x1x16xf32> {
  %o = rotor.attention %q, %k, %k query_start(%p : tensor<1xi64>) : tensor<1x4x1x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>
  return %o : tensor<1x4x1x16xf32>
}
