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
