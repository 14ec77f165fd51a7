// RUN: rotor-opt %s -split-input-file --rotor-autodiff="function=f seed-args=true" | FileCheck %s

// The rules of givens, l2_normalize, sinusoidal_embedding and conv1d, each
// op alone with the cotangent of its result as an argument (seed-args).
// test/numerics/test_cpu_grad.py checks their values against finite
// differences.

// The Givens chain: one givens_grad for the input and the angles.
// CHECK-LABEL: func.func @f_grad
// CHECK-SAME: (%[[X:.*]]: tensor<2x?x8xf32>, %[[T:.*]]: tensor<3xf32>, %[[DY:.*]]: tensor<2x?x8xf32>
// CHECK: %[[Y:.*]] = rotor.givens %[[X]], %[[T]]
// CHECK: %[[DX:.*]], %[[DT:.*]] = rotor.givens_grad %[[X]], %[[DY]], %[[T]] pairs [(0, 1), (1, 7), (0, 1)] : tensor<2x?x8xf32>, tensor<3xf32>
// CHECK: return %[[Y]], %[[DX]], %[[DT]]
func.func @f(%x: tensor<2x?x8xf32>, %t: tensor<3xf32>) -> tensor<2x?x8xf32> {
  %y = rotor.givens %x, %t pairs [(0, 1), (1, 7), (0, 1)] : tensor<2x?x8xf32>, tensor<3xf32>
  return %y : tensor<2x?x8xf32>
}

// -----

// l2_normalize: row sums (Σ x², Σ dy · y) accumulated in f32 for bf16, then
// one elementwise pass; rows under epsilon² take dy / epsilon.
// CHECK-LABEL: func.func @f_grad
// CHECK: %[[Y:.*]] = rotor.l2_normalize
// CHECK: %[[S:.*]]:2 = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]{{.*}} outs(%{{.*}}, %{{.*}} : tensor<2x?xf32>, tensor<2x?xf32>)
// CHECK: arith.extf
// CHECK: %[[DX:.*]] = linalg.generic {{.*}} ins(%[[Y]], %{{.*}}, %[[S]]#0, %[[S]]#1
// CHECK: arith.cmpf ogt
// CHECK: math.sqrt
// CHECK: arith.select
// CHECK: arith.truncf {{.*}} : f32 to bf16
// CHECK: return %[[Y]], %[[DX]]
func.func @f(%x: tensor<2x?x64xbf16>) -> tensor<2x?x64xbf16> {
  %y = rotor.l2_normalize %x : tensor<2x?x64xbf16>
  return %y : tensor<2x?x64xbf16>
}

// -----

// Integer positions: only the frequencies get a cotangent (positions are
// reduced, the frequency dimension is parallel).
// CHECK-LABEL: func.func @f_grad
// CHECK-SAME: -> (tensor<2x?x8xf32> {rotor.name = "result0"}, tensor<4xf32> {rotor.name = "grad.arg1"})
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction", "reduction", "parallel"]
// CHECK: arith.sitofp
// CHECK-NOT: linalg.generic
// CHECK: return
func.func @f(%p: tensor<2x?xi64>, %f: tensor<4xf32>) -> tensor<2x?x8xf32> {
  %y = rotor.sinusoidal_embedding %p, %f : tensor<2x?xi64>, tensor<4xf32>
  return %y : tensor<2x?x8xf32>
}

// -----

// Float positions get a cotangent too: the frequencies reduced.
// CHECK-LABEL: func.func @f_grad
// CHECK-SAME: -> (tensor<?x8xf32> {rotor.name = "result0"}, tensor<?xf32> {rotor.name = "grad.arg0"}, tensor<4xf32> {rotor.name = "grad.arg1"})
// CHECK: %[[DF:.*]] = linalg.generic {{.*}} iterator_types = ["reduction", "parallel"]
// CHECK: %[[DP:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]
// CHECK: return %{{.*}}, %[[DP]], %[[DF]]
func.func @f(%p: tensor<?xf32>, %f: tensor<4xf32>) -> tensor<?x8xf32> {
  %y = rotor.sinusoidal_embedding %p, %f : tensor<?xf32>, tensor<4xf32>
  return %y : tensor<?x8xf32>
}

// -----

// conv1d, causal, kernel 3, 2 groups: the cotangent is padded after by
// K - 1 (anti-causal) for dx; the input before by K - 1 for dw; the bias
// sums the rows.
// CHECK-LABEL: func.func @f_grad
// CHECK: tensor.pad %{{.*}} low[0, 0, 0] high[0, 2, 0]
// CHECK: %[[DX:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]
// CHECK: tensor.collapse_shape %[[DX]] {{\[\[}}0], [1], [2, 3]] : tensor<2x?x2x2xf32> into tensor<2x?x4xf32>
// CHECK: tensor.pad %{{.*}} low[0, 2, 0] high[0, 0, 0]
// CHECK: %[[DW:.*]] = linalg.generic
// CHECK: tensor.collapse_shape %[[DW]] {{\[\[}}0, 1], [2], [3]] : tensor<2x3x2x3xf32> into tensor<6x2x3xf32>
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction", "reduction", "parallel"]
func.func @f(%x: tensor<2x?x4xf32>, %w: tensor<6x2x3xf32>, %b: tensor<6xf32>) -> tensor<2x?x6xf32> {
  %y = rotor.conv1d %x, %w bias(%b : tensor<6xf32>) {groups = 2 : i64} : tensor<2x?x4xf32>, tensor<6x2x3xf32>
  return %y : tensor<2x?x6xf32>
}

// -----

// "same" padding with an even kernel (4): left 1, right 2 for the input,
// mirrored (2 before, 1 after) for the cotangent.
// CHECK-LABEL: func.func @f_grad
// CHECK: tensor.pad %{{.*}} low[0, 2, 0] high[0, 1, 0]
// CHECK: tensor.pad %{{.*}} low[0, 1, 0] high[0, 2, 0]
func.func @f(%x: tensor<1x?x3xf32>, %w: tensor<3x1x4xf32>) -> tensor<1x?x3xf32> {
  %y = rotor.conv1d %x, %w {groups = 3 : i64, padding = #rotor.conv_padding<same>} : tensor<1x?x3xf32>, tensor<3x1x4xf32>
  return %y : tensor<1x?x3xf32>
}
