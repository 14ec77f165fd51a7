// RUN: rotor-opt %s -split-input-file --convert-rotor-to-linalg | FileCheck %s

// Static weights: linear, rotate and givens become the vectorized matmul
// loop nest (weights repacked into a K x 64 frame buffer per block of 64
// output features, 4 rows of vector<64> accumulators, broadcast-FMA along
// K, masked stores for the feature tail).

// CHECK-LABEL: func @linear_bias
// CHECK: memref.alloca() : memref<48x64xf32>
// CHECK: %[[X:.*]] = bufferization.to_buffer %{{.*}} read_only {rotor.kernel_operand = {{[0-9]+}} : i64} : tensor<2x?x48xbf16> to memref<2x?x48xbf16>
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

// -----

// With parallel-loops, the blocks of 64 output features run in parallel,
// each in a private function whose frame holds its packed weights. The
// weights enter as views with constant offset, sizes and strides (a layout
// spelled out, so the cast stays).
// RUN: rotor-opt %s -split-input-file --convert-rotor-to-linalg="parallel-loops=true" | FileCheck %s --check-prefix=PAR
// PAR-LABEL: func @linear_parallel
// PAR: %[[W:.*]] = memref.reinterpret_cast %{{.*}} to offset: [0], sizes: [130, 32], strides: [32, 1] : memref<130x32xf32> to memref<130x32xf32, strided<[32, 1]>>
// PAR: %[[C3:.*]] = arith.constant 3 : index
// PAR: scf.parallel (%[[B:.*]]) = (%{{.*}}) to (%[[C3]])
// PAR: func.call @__rotor_matmul_block(%{{.*}}, %[[W]], %{{.*}}, %{{.*}}) : (memref<?x32xf32>, memref<130x32xf32, strided<[32, 1]>>, memref<?x130xf32>, index) -> ()
// PAR: func.func private @__rotor_matmul_block
// PAR: memref.alloca() : memref<32x64xf32>
func.func @linear_parallel(%x: tensor<?x32xf32>, %w: tensor<130x32xf32>) -> tensor<?x130xf32> {
  %0 = rotor.linear %x, %w : tensor<?x32xf32>, tensor<130x32xf32>
  return %0 : tensor<?x130xf32>
}

// -----

// The fused epilogue: silu on the accumulators, then the residual row.
// CHECK-LABEL: func @fused_epilogue
// CHECK: scf.for {{.*}} -> (vector<64xf32>, vector<64xf32>, vector<64xf32>, vector<64xf32>)
// CHECK: math.exp {{.*}} : vector<64xf32>
// CHECK: arith.divf
// CHECK: vector.transfer_read %{{.*}} : memref<?x64xf32>, vector<64xf32>
// CHECK: arith.addf
// CHECK: vector.transfer_write
func.func @fused_epilogue(%x: tensor<?x32xf32>, %w: tensor<64x32xf32>, %r: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %0 = rotor.fused_linear %x, %w residual(%r : tensor<?x64xf32>) {activation = #rotor.activation<silu>} : tensor<?x32xf32>, tensor<64x32xf32>
  return %0 : tensor<?x64xf32>
}

// -----

// Gate and up share the loads of x: two accumulator sets of two rows.
// CHECK-LABEL: func @gate_up
// CHECK-COUNT-2: memref.alloca() : memref<32x64xf32>
// CHECK: scf.for {{.*}} -> (vector<64xf32>, vector<64xf32>, vector<64xf32>, vector<64xf32>)
// CHECK: arith.mulf {{.*}} : vector<64xf32>
func.func @gate_up(%x: tensor<?x32xf32>, %g: tensor<100x32xf32>, %u: tensor<100x32xf32>) -> tensor<?x100xf32> {
  %0 = rotor.fused_gate_up %x, %g, %u : tensor<?x32xf32>, tensor<100x32xf32>, tensor<100x32xf32>
  return %0 : tensor<?x100xf32>
}

// -----

// Dynamic weights: the fused op decomposes into linear, activation and add.
// CHECK-LABEL: func @fused_dynamic
// CHECK: linalg.generic
// CHECK-NOT: rotor.
func.func @fused_dynamic(%x: tensor<?x32xf32>, %w: tensor<?x32xf32>) -> tensor<?x?xf32> {
  %0 = rotor.fused_linear %x, %w {activation = #rotor.activation<relu>} : tensor<?x32xf32>, tensor<?x32xf32>
  return %0 : tensor<?x?xf32>
}

// -----

// The RMS-norm prologue: the norm weight is multiplied into the weights as
// they are packed, Σx² accumulates beside the products from the same loads
// of x, and each row's accumulators are scaled by 1/sqrt(Σx²/K + eps) before
// the bias is added. No normalized copy of x is allocated.
// CHECK-LABEL: func @norm_prologue
// CHECK-SAME: (%[[X:.*]]: tensor<?x32xf32>, %[[G:.*]]: tensor<32xf32>
// CHECK-DAG: %[[GB:.*]] = bufferization.to_buffer %[[G]]
// CHECK-DAG: %[[XB:.*]] = bufferization.to_buffer %[[X]]
// CHECK: %[[WV:.*]] = memref.load %{{.*}} : memref<70x32xf32>
// CHECK: %[[GV:.*]] = memref.load %[[GB]][%{{.*}}] : memref<32xf32>
// CHECK: %[[P:.*]] = arith.mulf %[[WV]], %[[GV]] : f32
// CHECK: memref.store %[[P]], %{{.*}} : memref<32x64xf32>
// CHECK: scf.for {{.*}} -> (vector<64xf32>, vector<64xf32>, vector<64xf32>, vector<64xf32>, f32, f32, f32, f32)
// CHECK: %[[X0:.*]] = memref.load %{{.*}} : memref<?x32xf32>
// CHECK: vector.fma
// CHECK: math.fma %[[X0]], %[[X0]], %{{.*}} : f32
// CHECK: %[[MEAN:.*]] = arith.divf %{{.*}}#4, %{{.*}} : f32
// CHECK: %[[VAR:.*]] = arith.addf %[[MEAN]], %{{.*}} : f32
// CHECK: %[[RMS:.*]] = math.sqrt %[[VAR]] : f32
// CHECK: %[[R:.*]] = arith.divf %{{.*}}, %[[RMS]] : f32
// CHECK: %[[RV:.*]] = vector.broadcast %[[R]] : f32 to vector<64xf32>
// CHECK: vector.fma %{{.*}}#0, %[[RV]], %{{.*}} : vector<64xf32>
// CHECK-NOT: memref.alloc() {{.*}} : memref<?x32xf32>
func.func @norm_prologue(%x: tensor<?x32xf32>, %g: tensor<32xf32>, %w: tensor<70x32xf32>, %b: tensor<70xf32>) -> tensor<?x70xf32> {
  %0 = rotor.fused_linear %x, %w bias(%b : tensor<70xf32>) rms_norm(%g : tensor<32xf32>) {norm_epsilon = 1.0e-05 : f64} : tensor<?x32xf32>, tensor<70x32xf32>
  return %0 : tensor<?x70xf32>
}

// -----

// Without a vector kernel (a dynamic weight), the prologue becomes a
// rotor.rms_norm again, lowered as usual: one normalized copy of x.
// CHECK-LABEL: func @norm_prologue_dynamic_weight
// CHECK: math.sqrt
// CHECK: linalg.generic
func.func @norm_prologue_dynamic_weight(%x: tensor<4x32xf32>, %g: tensor<32xf32>, %w: tensor<?x32xf32>) -> tensor<4x?xf32> {
  %0 = rotor.fused_linear %x, %w rms_norm(%g : tensor<32xf32>) {norm_epsilon = 1.0e-05 : f64} : tensor<4x32xf32>, tensor<?x32xf32>
  return %0 : tensor<4x?xf32>
}
