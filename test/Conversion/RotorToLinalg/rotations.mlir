// RUN: rotor-opt %s -split-input-file --convert-rotor-to-linalg="vector-matmul=false" | FileCheck %s
// (vector-matmul=false: the linalg contractions that dynamic weights get;
// matmul.mlir checks the vectorized kernel of static weights.)

// rope: a cos/sin table over (seq, rotary_dim/2) with the angle in f64, then
// one generic over (batch, heads, seq, rotary_dim/2) on the two halves.
// CHECK-LABEL: func @rope_rotate_half
// CHECK: %[[TAB:.*]]:2 = linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]} ins(%{{.*}} : tensor<?xi64>) outs(%{{.*}}, %{{.*}} : tensor<?x32xf32>, tensor<?x32xf32>)
// CHECK: arith.sitofp {{.*}} : i64 to f64
// CHECK: math.powf {{.*}} : f64
// CHECK: math.cos {{.*}} : f64
// CHECK: math.sin {{.*}} : f64
// CHECK: arith.truncf {{.*}} : f64 to f32
// CHECK: %[[X1:.*]] = tensor.extract_slice %{{.*}}[0, 0, 0, 0] [2, 4, %{{.*}}, 32] [1, 1, 1, 1]
// CHECK: %[[X2:.*]] = tensor.extract_slice %{{.*}}[0, 0, 0, 32] [2, 4, %{{.*}}, 32] [1, 1, 1, 1]
// CHECK: %[[ROT:.*]]:2 = linalg.generic {{.*}} ins(%[[X1]], %[[X2]], %[[TAB]]#0, %[[TAB]]#1
// CHECK: tensor.insert_slice %[[ROT]]#0
// CHECK: tensor.insert_slice %[[ROT]]#1
func.func @rope_rotate_half(%x: tensor<2x4x?x64xf32>, %p: tensor<?xi64>) -> tensor<2x4x?x64xf32> {
  %0 = rotor.rope %x, %p {base = 10000.0 : f64} : tensor<2x4x?x64xf32>, tensor<?xi64>
  return %0 : tensor<2x4x?x64xf32>
}

// -----

// Interleaved pairs are strided slices; the features past rotary_dim pass
// through; batch positions give a (batch, seq, half) table; bf16 computes in
// f32.
// CHECK-LABEL: func @rope_interleaved_partial
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<2x?xi64>) outs({{.*}} : tensor<2x?x8xf32>, tensor<2x?x8xf32>)
// CHECK: tensor.extract_slice %{{.*}}[0, 0, 0, 0] [2, 4, %{{.*}}, 8] [1, 1, 1, 2]
// CHECK: tensor.extract_slice %{{.*}}[0, 0, 0, 1] [2, 4, %{{.*}}, 8] [1, 1, 1, 2]
// CHECK: arith.extf {{.*}} : bf16 to f32
// CHECK: arith.truncf {{.*}} : f32 to bf16
// CHECK: tensor.extract_slice %{{.*}}[0, 0, 0, 16] [2, 4, %{{.*}}, 16] [1, 1, 1, 1]
func.func @rope_interleaved_partial(%x: tensor<2x4x?x32xbf16>, %p: tensor<2x?xi64>) -> tensor<2x4x?x32xbf16> {
  %0 = rotor.rope %x, %p {rotary_dim = 16 : i64, layout = #rotor.rope_layout<interleaved>} : tensor<2x4x?x32xbf16>, tensor<2x?xi64>
  return %0 : tensor<2x4x?x32xbf16>
}

// -----

// Dynamic NTK reduces the positions to their maximum first; a learned base
// is read from its tensor.
// CHECK-LABEL: func @rope_dynamic_learned
// CHECK: tensor.extract %{{.*}}[] : tensor<f32>
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction"]
// CHECK: arith.maxsi
// CHECK: arith.cmpf ogt
func.func @rope_dynamic_learned(%x: tensor<1x1x?x16xf32>, %p: tensor<?xi64>, %b: tensor<f32>) -> tensor<1x1x?x16xf32> {
  %0 = rotor.rope %x, %p base(%b : tensor<f32>) {scaling = #rotor.rope_scaling<kind = dynamic_ntk, factor = 2.0, original_max_position = 64>} : tensor<1x1x?x16xf32>, tensor<?xi64>
  return %0 : tensor<1x1x?x16xf32>
}

// -----

// givens: the rotation matrix is built column pair by column pair from the
// angle operand, then contracted with x.
// CHECK-LABEL: func @givens
// CHECK: %[[ID:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<8x8xf32>)
// CHECK: tensor.extract %{{.*}}[%c0{{.*}}] : tensor<2xf32>
// CHECK: math.cos
// CHECK: math.sin
// CHECK: tensor.extract_slice %[[ID]][0, 1] [8, 1] [1, 1]
// CHECK: tensor.extract_slice %[[ID]][0, 6] [8, 1] [1, 1]
// CHECK: tensor.insert_slice
// CHECK: tensor.extract %{{.*}}[%c1{{.*}}] : tensor<2xf32>
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]
func.func @givens(%x: tensor<?x8xf32>, %t: tensor<2xf32>) -> tensor<?x8xf32> {
  %0 = rotor.givens %x, %t pairs [(1, 6), (0, 2)] : tensor<?x8xf32>, tensor<2xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// rotate: a contraction accumulated in f32, narrowed to bf16 afterwards.
// CHECK-LABEL: func @rotate_bf16
// CHECK: linalg.fill {{.*}} -> tensor<3x?x16xf32>
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK: arith.extf {{.*}} : bf16 to f32
// CHECK: linalg.generic
// CHECK: arith.truncf {{.*}} : f32 to bf16
func.func @rotate_bf16(%x: tensor<3x?x16xbf16>, %r: tensor<16x16xbf16>) -> tensor<3x?x16xbf16> {
  %0 = rotor.rotate %x, %r : tensor<3x?x16xbf16>, tensor<16x16xbf16>
  return %0 : tensor<3x?x16xbf16>
}
