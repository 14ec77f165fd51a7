// RUN: rotor-opt %s -split-input-file --convert-rotor-to-linalg | FileCheck %s

// cache_write: the written rows [lo, hi) are the update's rows clamped to
// the cache, lo = clamp(start, 0, C), hi = clamp(start + S, 0, C); the rows
// of the update that land in the cache are sliced out and inserted.
// CHECK-LABEL: func @cache_write
// CHECK-SAME: %[[U:[a-z0-9]+]]: tensor<1x2x3x8xf32>, %[[C:[a-z0-9]+]]: tensor<1x2x?x8xf32>, %[[P:[a-z0-9]+]]: tensor<1xi64>
// CHECK: %[[X:.*]] = tensor.extract %[[P]][%{{.*}}] : tensor<1xi64>
// CHECK: %[[START:.*]] = arith.index_cast %[[X]] : i64 to index
// CHECK: %[[CAP:.*]] = tensor.dim %[[C]], %{{.*}} : tensor<1x2x?x8xf32>
// CHECK: %[[LO0:.*]] = arith.maxsi %[[START]], %{{.*}} : index
// CHECK: %[[LO:.*]] = arith.minsi %[[LO0]], %[[CAP]] : index
// CHECK: %[[ROWS:.*]] = tensor.extract_slice %[[U]][0, 0, %{{.*}}, 0] [1, 2, %[[N:.*]], 8] [1, 1, 1, 1]
// CHECK: tensor.insert_slice %[[ROWS]] into %[[C]][0, 0, %[[LO]], 0] [1, 2, %[[N]], 8] [1, 1, 1, 1]
// CHECK-NOT: rotor.cache_write
func.func @cache_write(%u: tensor<1x2x3x8xf32>, %c: tensor<1x2x?x8xf32>, %p: tensor<1xi64>) -> tensor<1x2x?x8xf32> {
  %0 = rotor.cache_write %u into %c at %p {axis = 2 : i64} : tensor<1x2x3x8xf32> into tensor<1x2x?x8xf32>, tensor<1xi64>
  return %0 : tensor<1x2x?x8xf32>
}

// -----

// attention with query_start: the loop nest sees min(clamp(start + Sq), Sk)
// keys (the key count of every tile's range), not the cache's capacity.
// CHECK-LABEL: func @attention_query_start
// CHECK-SAME: %[[K:[a-z0-9]+]]: tensor<1x2x?x8xf32>, %{{.*}}: tensor<1x2x?x8xf32>, %[[P:[a-z0-9]+]]: tensor<i32>
// CHECK: tensor.dim %[[K]], %{{.*}} : tensor<1x2x?x8xf32>
// CHECK: %[[SK:.*]] = tensor.dim %[[K]], %{{.*}} : tensor<1x2x?x8xf32>
// CHECK: %[[X:.*]] = tensor.extract %[[P]][] : tensor<i32>
// CHECK: %[[START:.*]] = arith.index_cast %[[X]] : i32 to index
// CHECK: %[[S0:.*]] = arith.maxsi %[[START]], %{{.*}} : index
// CHECK: %[[S1:.*]] = arith.minsi %[[S0]], %[[SK]] : index
// CHECK: %[[END:.*]] = arith.addi %[[S1]], %{{.*}} : index
// CHECK: %[[KEYS:.*]] = arith.minsi %[[END]], %[[SK]] : index
// The queries are aligned to the end of the existing keys: offset = keys - Sq.
// CHECK: scf.for
// CHECK: arith.subi %[[KEYS]], %{{.*}} : index
// CHECK-NOT: rotor.attention
func.func @attention_query_start(%q: tensor<1x4x1x8xf32>, %k: tensor<1x2x?x8xf32>, %v: tensor<1x2x?x8xf32>, %p: tensor<i32>) -> tensor<1x4x1x8xf32> {
  %0 = rotor.attention %q, %k, %v query_start(%p : tensor<i32>) {mask = #rotor.mask<causal = true, window_left = 3>} : tensor<1x4x1x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>
  return %0 : tensor<1x4x1x8xf32>
}
