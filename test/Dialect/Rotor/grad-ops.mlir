// RUN: rotor-opt %s | rotor-opt | FileCheck %s

// Round trip of the backward ops (rotor.*_grad).

// CHECK-LABEL: func @activation_grad
// CHECK: rotor.activation_grad %{{.*}}, %{{.*}} {activation = #rotor.activation<silu>} : tensor<2x?x64xf32>
// CHECK: rotor.activation_grad %{{.*}}, %{{.*}} {activation = #rotor.activation<gelu_tanh>} : tensor<2x?x64xf32>
func.func @activation_grad(%x: tensor<2x?x64xf32>, %dy: tensor<2x?x64xf32>) -> (tensor<2x?x64xf32>, tensor<2x?x64xf32>) {
  %0 = rotor.activation_grad %x, %dy {activation = #rotor.activation<silu>} : tensor<2x?x64xf32>
  %1 = rotor.activation_grad %x, %dy {activation = #rotor.activation<gelu_tanh>} : tensor<2x?x64xf32>
  return %0, %1 : tensor<2x?x64xf32>, tensor<2x?x64xf32>
}

// CHECK-LABEL: func @linear_weight_grad
// CHECK: rotor.linear_weight_grad %{{.*}}, %{{.*}} : tensor<2x?x128xf32>, tensor<2x?x64xf32>
func.func @linear_weight_grad(%dy: tensor<2x?x128xf32>, %x: tensor<2x?x64xf32>) -> tensor<128x64xf32> {
  %0 = rotor.linear_weight_grad %dy, %x : tensor<2x?x128xf32>, tensor<2x?x64xf32>
  return %0 : tensor<128x64xf32>
}

// CHECK-LABEL: func @cross_entropy_grad
// CHECK: rotor.cross_entropy_grad %{{.*}}, %{{.*}}, %{{.*}} {ignore_index = 0 : i64} : tensor<2x?x100xf32>, tensor<2x?xi64>, tensor<f32>
func.func @cross_entropy_grad(%l: tensor<2x?x100xf32>, %t: tensor<2x?xi64>, %g: tensor<f32>) -> tensor<2x?x100xf32> {
  %0 = rotor.cross_entropy_grad %l, %t, %g {ignore_index = 0 : i64} : tensor<2x?x100xf32>, tensor<2x?xi64>, tensor<f32>
  return %0 : tensor<2x?x100xf32>
}

// CHECK-LABEL: func @norm_embedding_rope
// CHECK: rotor.rms_norm_grad %{{.*}}, %{{.*}}, %{{.*}} {epsilon = 1.000000e-05 : f64} : tensor<2x?x64xf32>, tensor<64xf32>
// CHECK: rotor.embedding_grad %{{.*}}, %{{.*}} : tensor<2x?xi64>, tensor<2x?x64xf32> -> tensor<1000x64xf32>
// CHECK: rotor.rope %{{.*}}, %{{.*}} {transpose} : tensor<2x4x?x64xf32>, tensor<?xi64>
// CHECK: rotor.rope_base_grad %{{.*}}, %{{.*}}, %{{.*}} base(%{{.*}} : tensor<f32>) : tensor<2x4x?x64xf32>, tensor<?xi64>
func.func @norm_embedding_rope(%x: tensor<2x?x64xf32>, %w: tensor<64xf32>, %ids: tensor<2x?xi64>,
                               %q: tensor<2x4x?x64xf32>, %pos: tensor<?xi64>, %b: tensor<f32>) {
  %0:2 = rotor.rms_norm_grad %x, %w, %x {epsilon = 1.0e-05 : f64} : tensor<2x?x64xf32>, tensor<64xf32>
  %1 = rotor.embedding_grad %ids, %x : tensor<2x?xi64>, tensor<2x?x64xf32> -> tensor<1000x64xf32>
  %2 = rotor.rope %q, %pos {transpose} : tensor<2x4x?x64xf32>, tensor<?xi64>
  %3 = rotor.rope_base_grad %q, %q, %pos base(%b : tensor<f32>) : tensor<2x4x?x64xf32>, tensor<?xi64>
  return
}

// CHECK-LABEL: func @attention_grad
// CHECK: rotor.attention_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} bias(%{{.*}} : tensor<4x32xf32>) {mask = #rotor.mask<causal = true>} : tensor<1x4x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x4x?x16xf32>, tensor<1x4x?xf32> -> tensor<4x32xf32>
func.func @attention_grad(%q: tensor<1x4x?x16xf32>, %k: tensor<1x2x?x16xf32>, %v: tensor<1x2x?x16xf32>,
                          %o: tensor<1x4x?x16xf32>, %lse: tensor<1x4x?xf32>, %t: tensor<4x32xf32>) {
  %0:4 = rotor.attention_grad %q, %k, %v, %o, %lse, %o bias(%t : tensor<4x32xf32>) {mask = #rotor.mask<causal = true>}
      : tensor<1x4x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x4x?x16xf32>, tensor<1x4x?xf32> -> tensor<4x32xf32>
  return
}

// CHECK-LABEL: func @givens_grad
// CHECK: %{{.*}}, %{{.*}} = rotor.givens_grad %{{.*}}, %{{.*}}, %{{.*}} pairs [(0, 1), (1, 7), (0, 1)] : tensor<2x?x8xf32>, tensor<3xbf16>
func.func @givens_grad(%x: tensor<2x?x8xf32>, %dy: tensor<2x?x8xf32>, %t: tensor<3xbf16>) -> (tensor<2x?x8xf32>, tensor<3xbf16>) {
  %dx, %dt = rotor.givens_grad %x, %dy, %t pairs [(0, 1), (1, 7), (0, 1)] : tensor<2x?x8xf32>, tensor<3xbf16>
  return %dx, %dt : tensor<2x?x8xf32>, tensor<3xbf16>
}
