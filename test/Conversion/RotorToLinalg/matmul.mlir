// RUN: rotor-opt %s -split-input-file --convert-rotor-to-linalg | FileCheck %s

// Static weights: linear, rotate and givens become the vectorized matmul
// loop nest (weights repacked into a K x 64 frame buffer per block of 64
// output features, 4 rows of vector<64> accumulators, broadcast-FMA along
// K, masked stores for the feature tail).

// CHECK-LABEL: func @linear_bias
// CHECK: memref.alloca() : memref<48x64xf32>
// CHECK: %[[X:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<2x?x48xbf16> to memref<2x?x48xbf16>
// CHECK: memref.collapse_shape %[[X]] {{\[}}[0, 1], [2]]
// CHECK: %[[OUT:.*]] = memref.alloc(%{{.*}}) : memref<2x?x100xbf16>
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c64
// CHECK: scf.if
// CHECK: arith.extf {{.*}} : bf16 to f32
// CHECK: vector.transfer_read {{.*}} : memref<100xbf16>, vector<64xbf16>
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<64xf32>, vector<64xf32>, vector<64xf32>, vector<64xf32>)
// CHECK: vector.fma {{.*}} : vector<64xf32>
// CHECK: arith.truncf {{.*}} : vector<64xf32> to vector<64xbf16>
// CHECK: vector.transfer_write {{.*}} : vector<64xbf16>, memref<?x100xbf16>
// The remaining rows, one at a time.
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<64xf32>)
// CHECK: bufferization.to_tensor %[[OUT]] restrict writable
func.func @linear_bias(%x: tensor<2x?x48xbf16>, %w: tensor<100x48xbf16>, %b: tensor<100xbf16>) -> tensor<2x?x100xbf16> {
  %0 = rotor.linear %x, %w bias(%b : tensor<100xbf16>) : tensor<2x?x48xbf16>, tensor<100x48xbf16>
  return %0 : tensor<2x?x100xbf16>
}

// -----

// A dynamic weight keeps the linalg contraction.
// CHECK-LABEL: func @linear_dynamic_weight
// CHECK-NOT: vector.fma
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]
func.func @linear_dynamic_weight(%x: tensor<?x8xf32>, %w: tensor<?x8xf32>) -> tensor<?x?xf32> {
  %0 = rotor.linear %x, %w : tensor<?x8xf32>, tensor<?x8xf32>
  return %0 : tensor<?x?xf32>
}

// -----

// rotate reads its matrix as (K, N); f64 keeps 2 rows of accumulators.
// CHECK-LABEL: func @rotate_f64
// CHECK: memref.alloca() : memref<16x64xf64>
// CHECK: scf.for {{.*}} -> (vector<64xf64>, vector<64xf64>)
func.func @rotate_f64(%x: tensor<?x16xf64>, %r: tensor<16x16xf64>) -> tensor<?x16xf64> {
  %0 = rotor.rotate %x, %r : tensor<?x16xf64>, tensor<16x16xf64>
  return %0 : tensor<?x16xf64>
}
