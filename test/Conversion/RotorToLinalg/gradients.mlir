// RUN: rotor-opt %s -split-input-file --convert-rotor-to-linalg | FileCheck %s

// CHECK-LABEL: func @activation_grad
// CHECK-NOT: rotor.
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel"]
// CHECK: math.exp
// CHECK: arith.divf
// CHECK: linalg.yield
func.func @activation_grad(%x: tensor<2x?x64xf32>, %dy: tensor<2x?x64xf32>) -> tensor<2x?x64xf32> {
  %0 = rotor.activation_grad %x, %dy {activation = #rotor.activation<silu>} : tensor<2x?x64xf32>
  return %0 : tensor<2x?x64xf32>
}

// -----

// The leading (row) dimensions are reduced, outermost.
// CHECK-LABEL: func @linear_weight_grad
// CHECK: %[[Z:.*]] = linalg.fill {{.*}} -> tensor<128x64xf32>
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction", "reduction", "parallel", "parallel"]{{.*}} outs(%[[Z]]
// CHECK: arith.mulf
// CHECK: arith.addf
func.func @linear_weight_grad(%dy: tensor<2x?x128xf32>, %x: tensor<2x?x64xf32>) -> tensor<128x64xf32> {
  %0 = rotor.linear_weight_grad %dy, %x : tensor<2x?x128xf32>, tensor<2x?x64xf32>
  return %0 : tensor<128x64xf32>
}

// -----

// Row max, row sum of exponentials, count of labels, then one parallel pass.
// CHECK-LABEL: func @cross_entropy_grad
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: arith.maximumf
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: math.exp
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction", "reduction"]
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel"]
// CHECK: arith.select
func.func @cross_entropy_grad(%l: tensor<2x?x100xf32>, %t: tensor<2x?xi64>, %g: tensor<f32>) -> tensor<2x?x100xf32> {
  %0 = rotor.cross_entropy_grad %l, %t, %g : tensor<2x?x100xf32>, tensor<2x?xi64>, tensor<f32>
  return %0 : tensor<2x?x100xf32>
}

// -----

// dx = dy · Mᵀ with M the chain's matrix; A = Σ_rows xᵀ dy (rows reduced,
// outermost); then, from the last rotation back, one reduction over the
// columns (i, j) of (M, A) per angle, and the rotation undone (sin negated)
// on both matrices before the previous angle. The angle cotangents are
// gathered in rotation order.
// CHECK-LABEL: func @givens_grad
// CHECK: math.cos
// CHECK: math.sin
// CHECK: math.cos
// CHECK: math.sin
// CHECK: linalg.transpose
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction", "reduction", "parallel", "parallel"]
// CHECK: %[[G1:.*]] = linalg.generic {{.*}} iterator_types = ["reduction"]
// CHECK: %[[E1:.*]] = tensor.extract %[[G1]][] : tensor<f32>
// CHECK: %[[S:.*]] = math.sin
// CHECK: arith.negf %[[S]]
// CHECK: %[[G0:.*]] = linalg.generic {{.*}} iterator_types = ["reduction"]
// CHECK: %[[E0:.*]] = tensor.extract %[[G0]][] : tensor<f32>
// CHECK-NOT: math.sin
// CHECK: %[[DT:.*]] = tensor.from_elements %[[E0]], %[[E1]] : tensor<2xf32>
// CHECK: return %{{.*}}, %[[DT]]
func.func @givens_grad(%x: tensor<2x?x8xf32>, %dy: tensor<2x?x8xf32>, %t: tensor<2xf32>) -> (tensor<2x?x8xf32>, tensor<2xf32>) {
  %dx, %dt = rotor.givens_grad %x, %dy, %t pairs [(0, 1), (1, 7)] : tensor<2x?x8xf32>, tensor<2xf32>
  return %dx, %dt : tensor<2x?x8xf32>, tensor<2xf32>
}
