// RUN: rotor-opt %s -split-input-file --rotor-dilation-relayout | FileCheck %s
// RUN: rotor-opt %s -split-input-file --rotor-dilation-relayout="report=true" -o /dev/null 2>&1 | FileCheck %s --check-prefix=REPORT

// Causal dilated window, dynamic lengths: keys padded at the end to whole
// subsequences, queries at the front and the end; the residue becomes the
// outer part of the head dimension; one dense window attention.
// CHECK-LABEL: func @causal_dynamic
// CHECK-SAME: (%[[Q:.*]]: tensor<1x8x?x64xf32>, %[[K:.*]]: tensor<1x2x?x64xf32>, %[[V:.*]]: tensor<1x2x?x64xf32>)
// CHECK: arith.ceildivsi %{{.*}}, %c4
// CHECK: arith.floordivsi %{{.*}}, %c4
// CHECK: %[[QP:.*]] = tensor.insert_slice %[[Q]] into
// CHECK: %[[QE:.*]] = tensor.expand_shape %[[QP]] {{\[}}[0], [1], [2, 3], [4]] output_shape [1, 8, %{{.*}}, 4, 64] : tensor<1x8x?x64xf32> into tensor<1x8x?x4x64xf32>
// CHECK: %[[QT:.*]] = linalg.transpose ins(%[[QE]] : tensor<1x8x?x4x64xf32>) outs(%{{.*}} : tensor<1x4x8x?x64xf32>) permutation = [0, 3, 1, 2, 4]
// CHECK: %[[QS:.*]] = tensor.collapse_shape %[[QT]] {{\[}}[0], [1, 2], [3], [4]] : tensor<1x4x8x?x64xf32> into tensor<1x32x?x64xf32>
// CHECK: %[[KS:.*]] = tensor.collapse_shape {{.*}} into tensor<1x8x?x64xf32>
// CHECK: %[[VS:.*]] = tensor.collapse_shape {{.*}} into tensor<1x8x?x64xf32>
// CHECK: %[[O:.*]] = rotor.attention %[[QS]], %[[KS]], %[[VS]] {mask = #rotor.mask<causal = true, window_left = 255>} : tensor<1x32x?x64xf32>, tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>
// CHECK: %[[OE:.*]] = tensor.expand_shape %[[O]] {{\[}}[0], [1, 2], [3], [4]] output_shape [1, 4, 8, %{{.*}}, 64] : tensor<1x32x?x64xf32> into tensor<1x4x8x?x64xf32>
// CHECK: linalg.transpose ins(%[[OE]] : tensor<1x4x8x?x64xf32>) outs(%{{.*}} : tensor<1x8x?x4x64xf32>) permutation = [0, 2, 3, 1, 4]
// CHECK: tensor.collapse_shape
// CHECK: %[[R:.*]] = tensor.extract_slice %{{.*}}[0, 0, %{{.*}}, 0] [1, 8, %{{.*}}, 64] [1, 1, 1, 1]
// CHECK: return %[[R]]
// REPORT: rotor-dilation-relayout: dilation 4 into 4 dense subsequences at
func.func @causal_dynamic(%q: tensor<1x8x?x64xf32>, %k: tensor<1x2x?x64xf32>, %v: tensor<1x2x?x64xf32>) -> tensor<1x8x?x64xf32> {
  %o = rotor.attention %q, %k, %v {mask = #rotor.mask<causal = true, window_left = 255, dilation = 4>} : tensor<1x8x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
  return %o : tensor<1x8x?x64xf32>
}

// -----

// Static lengths that are whole subsequences: no padding, static shapes;
// keys and values that are one tensor are split once.
// CHECK-LABEL: func @bidirectional_static
// CHECK-NOT: tensor.insert_slice
// CHECK-COUNT-2: linalg.transpose
// CHECK-NOT: linalg.transpose
// CHECK: rotor.attention %{{.*}}, %{{.*}}, %{{.*}} {mask = #rotor.mask<window_left = 4, window_right = 2>} : tensor<2x12x4x16xf32>, tensor<2x6x4x16xf32>, tensor<2x6x4x16xf32>
// CHECK: %[[R:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0], [1], [2, 3], [4]] : tensor<2x4x4x3x16xf32> into tensor<2x4x12x16xf32>
// CHECK-NEXT: return %[[R]]
func.func @bidirectional_static(%q: tensor<2x4x12x16xf32>, %k: tensor<2x2x12x16xf32>) -> tensor<2x4x12x16xf32> {
  %o = rotor.attention %q, %k, %k {mask = #rotor.mask<window_left = 4, window_right = 2, dilation = 3>} : tensor<2x4x12x16xf32>, tensor<2x2x12x16xf32>, tensor<2x2x12x16xf32>
  return %o : tensor<2x4x12x16xf32>
}

// -----

// Must not touch: padded keys would be visible without causal; global
// tokens, chunks and relative bias live on the original positions; the lse
// would need its own relayout; dilation 1 has nothing to gain.
// CHECK-LABEL: func @untouched
// CHECK-NOT: linalg.transpose
// CHECK-COUNT-6: rotor.attention %arg0, %arg1, %arg1
// CHECK-NOT: linalg.transpose
func.func @untouched(%q: tensor<1x2x?x16xf32>, %k: tensor<1x2x?x16xf32>, %t: tensor<2x8xf32>) -> (tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?xf32>) {
  %0 = rotor.attention %q, %k, %k {mask = #rotor.mask<window_left = 4, dilation = 2>} : tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>
  %1 = rotor.attention %q, %k, %k {mask = #rotor.mask<causal = true, dilation = 2, global = 4>} : tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>
  %2 = rotor.attention %q, %k, %k {mask = #rotor.mask<causal = true, dilation = 2, chunk = 16>} : tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>
  %3 = rotor.attention %q, %k, %k bias(%t : tensor<2x8xf32>) {mask = #rotor.mask<causal = true, dilation = 2>} : tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>
  %4 = rotor.attention %q, %k, %k {mask = #rotor.mask<causal = true, window_left = 3>} : tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>
  %5, %lse = rotor.attention %q, %k, %k return_lse {mask = #rotor.mask<causal = true, dilation = 2>} : tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>
  return %0, %1, %2, %3, %4, %lse : tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?xf32>
}

// -----

// Must not touch: with query_start only the first keys of the cache exist,
// a count known at run time.
// CHECK-LABEL: func @static_cache
// CHECK-NOT: tensor.extract_slice
// CHECK: rotor.attention %{{.*}} query_start(%{{.*}} : tensor<1xi64>) {mask = #rotor.mask<causal = true, window_left = 7, dilation = 2>}
func.func @static_cache(%q: tensor<1x2x1x16xf32>, %k: tensor<1x2x?x16xf32>, %p: tensor<1xi64>) -> tensor<1x2x1x16xf32> {
  %o = rotor.attention %q, %k, %k query_start(%p : tensor<1xi64>) {mask = #rotor.mask<causal = true, window_left = 7, dilation = 2>} : tensor<1x2x1x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>
  return %o : tensor<1x2x1x16xf32>
}
