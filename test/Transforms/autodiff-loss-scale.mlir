// RUN: rotor-opt %s --rotor-autodiff="function=scaled loss-scale=true" | FileCheck %s
// RUN: not rotor-opt %s --rotor-autodiff="function=scaled loss-scale=true seed-args=true" 2>&1 | FileCheck %s --check-prefix=ERR

// loss-scale: the seed of the loss cotangent is a last argument loss_scale;
// the loss is returned unscaled.
// CHECK-LABEL: func.func @scaled_grad(
// CHECK-SAME: %{{.*}}: tensor<3x4xf32>, %{{.*}}: tensor<3xi64>, %[[S:.*]]: tensor<f32> {rotor.name = "loss_scale"}) -> (tensor<f32> {rotor.name = "loss"}, tensor<3x4xf32> {rotor.name = "grad.arg0"})
// CHECK: %[[L:.*]] = rotor.cross_entropy
// CHECK-NOT: arith.constant
// CHECK: rotor.cross_entropy_grad %{{.*}}, %{{.*}}, %[[S]]
// CHECK: return %[[L]],

// ERR: error: rotor-autodiff: loss-scale applies to a loss function, not with seed-args
func.func @scaled(%x: tensor<3x4xf32>, %labels: tensor<3xi64>) -> tensor<f32> {
  %l = rotor.cross_entropy %x, %labels : tensor<3x4xf32>, tensor<3xi64>
  return %l : tensor<f32>
}
