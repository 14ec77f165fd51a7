// RUN: rotor-opt %s -split-input-file --convert-rotor-to-linalg | FileCheck %s
// RUN: rotor-opt %s -split-input-file --convert-rotor-to-linalg="attention-block-q=16 attention-block-k=32" | FileCheck %s --check-prefix=TILE

// The attention loop nest: scratch tiles in the frame, loops over (batch,
// head, query tile), the key range from the mask, score vectors along the
// queries, an online softmax and no S x S buffer.

// CHECK-LABEL: func @causal_window
// CHECK-DAG: memref.alloca() : memref<64x32xf32>
// CHECK-DAG: memref.alloca() : memref<64x32xf32>
// CHECK-DAG: memref.alloca() : memref<32xf32>
// CHECK: %[[Q:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<2x8x?x64xf32> to memref<2x8x?x64xf32>
// CHECK: %[[OUT:.*]] = memref.alloc(%{{.*}}) : memref<2x8x?x64xf32>
// CHECK: arith.divui
// CHECK: scf.for
// CHECK: scf.for
// CHECK: scf.for
// The causal bound and the window: lo = max(0, p0 - 127).
// CHECK: arith.maxsi
// CHECK: vector.step : vector<32xindex>
// CHECK: scf.for
// CHECK: vector.fma {{.*}} : vector<32xf32>
// CHECK: scf.if
// CHECK: arith.cmpi sle
// CHECK: arith.select {{.*}} : vector<32xi1>, vector<32xf32>
// CHECK: arith.maximumf {{.*}} : vector<32xf32>
// CHECK: math.exp {{.*}} : vector<32xf32>
// CHECK: bufferization.to_tensor %[[OUT]] restrict writable
// CHECK-NOT: memref<{{.*}}?x?xf32>

// TILE-LABEL: func @causal_window
// TILE: memref.alloca() : memref<64x16xf32>
// TILE: vector<16xf32>
func.func @causal_window(%q: tensor<2x8x?x64xf32>, %k: tensor<2x2x?x64xf32>) -> tensor<2x8x?x64xf32> {
  %o = rotor.attention %q, %k, %k {mask = #rotor.mask<causal = true, window_left = 127>} : tensor<2x8x?x64xf32>, tensor<2x2x?x64xf32>, tensor<2x2x?x64xf32>
  return %o : tensor<2x8x?x64xf32>
}

// -----

// bf16 data is widened to f32 as it is loaded, and narrowed as it is stored.
// The log-sum-exp comes back as a second buffer.
// CHECK-LABEL: func @bf16_lse
// CHECK: memref.alloc(%{{.*}}) : memref<1x4x?x32xbf16>
// CHECK: memref.alloc(%{{.*}}) : memref<1x4x?xf32>
// CHECK: arith.extf {{.*}} : vector<32xbf16> to vector<32xf32>
// CHECK: arith.extf {{.*}} : bf16 to f32
// CHECK: math.log
// CHECK: arith.truncf {{.*}} : f32 to bf16
func.func @bf16_lse(%q: tensor<1x4x?x32xbf16>) -> (tensor<1x4x?x32xbf16>, tensor<1x4x?xf32>) {
  %o, %l = rotor.attention %q, %q, %q return_lse : tensor<1x4x?x32xbf16>, tensor<1x4x?x32xbf16>, tensor<1x4x?x32xbf16>
  return %o, %l : tensor<1x4x?x32xbf16>, tensor<1x4x?xf32>
}

// -----

// Global tokens add a prefix key range; dilation adds the modulo test and
// makes no tile full; a relative bias gathers from its table.
// CHECK-LABEL: func @hybrid_dilated_bias
// CHECK: arith.remsi
// CHECK: vector.gather
// CHECK: scf.for
// CHECK: scf.for
func.func @hybrid_dilated_bias(%q: tensor<1x2x?x16xf32>, %t: tensor<2x32xf32>) -> tensor<1x2x?x16xf32> {
  %o = rotor.attention %q, %q, %q bias(%t : tensor<2x32xf32>) {mask = #rotor.mask<causal = true, window_left = 8, dilation = 2, global = 4>} : tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>
  return %o : tensor<1x2x?x16xf32>
}

// -----

// With parallel-loops, one scf.parallel over (batch, head, query tile)
// linearized, whose body only calls a private tile function that owns its
// scratch tiles.
// RUN: rotor-opt %s -split-input-file --convert-rotor-to-linalg="parallel-loops=true" | FileCheck %s --check-prefix=PAR
// PAR-LABEL: func @parallel_tiles
// PAR: scf.parallel (%[[I:.*]]) = (%{{.*}}) to (%{{.*}}) step (%{{.*}}) {
// PAR-NEXT: arith.divui %[[I]]
// PAR: func.call @__rotor_attention_tile{{.*}}(%{{.*}}) : (memref<1x2x?x16xf32>, memref<1x1x?x16xf32>, memref<1x1x?x16xf32>, memref<1x2x?x16xf32>, index, index, index, index, index, index) -> ()
// PAR-NEXT: scf.reduce
// PAR: func.func private @__rotor_attention_tile
// PAR: memref.alloca() : memref<16x32xf32>
func.func @parallel_tiles(%q: tensor<1x2x?x16xf32>, %k: tensor<1x1x?x16xf32>) -> tensor<1x2x?x16xf32> {
  %o = rotor.attention %q, %k, %k {mask = #rotor.mask<causal = true>} : tensor<1x2x?x16xf32>, tensor<1x1x?x16xf32>, tensor<1x1x?x16xf32>
  return %o : tensor<1x2x?x16xf32>
}

// -----

// Fused rope: cos/sin tables of the positions (angles in f64), the query
// rows rotated as they are loaded into the transposed query tile, the keys
// of each key tile rotated into a BK x D scratch tile that the QK
// micro-kernel reads instead of the key buffer. No rotated copy of q or k.
// CHECK-LABEL: func @rope_queries_and_keys
// CHECK-DAG: memref.alloca() : memref<64x64xf32>
// CHECK: math.cos {{.*}} : f64
// CHECK: math.sin {{.*}} : f64
// CHECK: linalg.generic
// CHECK: math.cos {{.*}} : f64
// CHECK: bufferization.to_buffer %{{.*}} read_only : tensor<?x16xf32> to memref<?x16xf32>
// CHECK: vector.load %{{.*}} : memref<?x16xf32>, vector<16xf32>
// CHECK: vector.extract_strided_slice %{{.*}} {offsets = [0], sizes = [16], strides = [1]} : vector<64xf32> to vector<16xf32>
// CHECK: vector.extract_strided_slice %{{.*}} {offsets = [16], sizes = [16], strides = [1]}
// CHECK: vector.insert_strided_slice %{{.*}} {offsets = [16], strides = [1]} : vector<16xf32> into vector<64xf32>
// CHECK: arith.mulf %{{.*}} : vector<64xf32>
// CHECK: vector.store %{{.*}} : memref<64x64xf32>, vector<64xf32>
// CHECK: memref.load %{{.*}} : memref<64x64xf32>
// CHECK-NOT: memref.alloc(%{{.*}}) : memref<1x{{.*}}x?x64xf32>
func.func @rope_queries_and_keys(%q: tensor<1x4x?x64xf32>, %k: tensor<1x2x?x64xf32>, %pos: tensor<?xi64>) -> tensor<1x4x?x64xf32> {
  %o = rotor.attention %q, %k, %k rope_q(%pos : tensor<?xi64>) rope_k(%pos : tensor<?xi64>) {mask = #rotor.mask<causal = true>, rope_rotary_dim = 32 : i64} : tensor<1x4x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
  return %o : tensor<1x4x?x64xf32>
}

// -----

// Interleaved pairs, queries only, per-batch positions: the pairs are
// gathered with shuffles; the keys are read from their buffer.
// CHECK-LABEL: func @rope_interleaved_queries
// CHECK: vector.load %{{.*}} : memref<2x?x8xf32>, vector<8xf32>
// CHECK: vector.shuffle %{{.*}} [0, 2, 4, 6, 8, 10, 12, 14] : vector<16xf32>, vector<16xf32>
// CHECK: vector.shuffle %{{.*}} [1, 3, 5, 7, 9, 11, 13, 15] : vector<16xf32>, vector<16xf32>
// CHECK: vector.shuffle %{{.*}} [0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15] : vector<8xf32>, vector<8xf32>
// CHECK: memref.load %{{.*}} : memref<2x2x?x16xf32>
func.func @rope_interleaved_queries(%q: tensor<2x2x?x16xf32>, %k: tensor<2x2x?x16xf32>, %pos: tensor<2x?xi32>) -> tensor<2x2x?x16xf32> {
  %o = rotor.attention %q, %k, %k rope_q(%pos : tensor<2x?xi32>) {rope_layout = #rotor.rope_layout<interleaved>} : tensor<2x2x?x16xf32>, tensor<2x2x?x16xf32>, tensor<2x2x?x16xf32>
  return %o : tensor<2x2x?x16xf32>
}
