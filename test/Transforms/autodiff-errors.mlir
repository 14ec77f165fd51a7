// RUN: rotor-opt %s -split-input-file --rotor-autodiff -verify-diagnostics

// An op without a rule on the path from an argument to the loss.
func.func @loss(%x: tensor<4x8xf32>, %labels: tensor<4xi64>) -> tensor<f32> {
  // expected-error @+1 {{rotor-autodiff: 'math.exp' is not differentiable (it implements no DifferentiableOpInterface rule) (operand #0 depends on a differentiated argument)}}
  %e = math.exp %x : tensor<4x8xf32>
  %l = rotor.cross_entropy %e, %labels : tensor<4x8xf32>, tensor<4xi64>
  return %l : tensor<f32>
}

// -----

// The same op off the differentiated path is fine: no error.
func.func @loss(%x: tensor<4x8xf32>, %labels: tensor<4xi64>) -> tensor<f32> {
  %c = arith.constant dense<0.5> : tensor<4x8xf32>
  %e = math.exp %c : tensor<4x8xf32>
  %y = rotor.mul %x, %e : tensor<4x8xf32>, tensor<4x8xf32>
  %l = rotor.cross_entropy %y, %labels : tensor<4x8xf32>, tensor<4xi64>
  return %l : tensor<f32>
}

// -----

// expected-error @+1 {{rotor-autodiff: @loss must return one 0-D float tensor (the loss) unless seed-args is set; it returns 1 value(s)}}
func.func @loss(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %y = rotor.silu %x : tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// expected-error @+1 {{rotor-autodiff: no function @loss with a body to differentiate}}
module {
  func.func @other(%x: tensor<f32>) -> tensor<f32> {
    return %x : tensor<f32>
  }
}

// -----

// The forward function with several results and their cotangents as
// arguments (seed-args) is tested in autodiff-seed.mlir; here: a recursive
// call cannot be inlined.
func.func @loss(%x: tensor<f32>) -> tensor<f32> {
  // expected-error @+1 {{rotor-autodiff cannot inline the recursive call of @loss}}
  %y = func.call @loss(%x) : (tensor<f32>) -> tensor<f32>
  return %y : tensor<f32>
}

// -----

// layer_norm needs a static last dimension (the mean's 1/H) to be
// differentiated.
func.func @loss(%x: tensor<4x?xf32>, %w: tensor<?xf32>, %labels: tensor<4xi64>) -> tensor<f32> {
  // expected-error @+1 {{'rotor.layer_norm' op needs a static last dimension to be differentiated}}
  %y = rotor.layer_norm %x, %w : tensor<4x?xf32>, tensor<?xf32>
  %l = rotor.cross_entropy %y, %labels : tensor<4x?xf32>, tensor<4xi64>
  return %l : tensor<f32>
}

// -----

// A fused Givens chain of the queries un-fuses to rotor.givens, which has
// no rule: the diagnostic names it (at the attention op it came from).
func.func @loss(%q: tensor<1x4x5x16xf32>, %k: tensor<1x2x5x16xf32>, %t: tensor<2xf32>, %labels: tensor<1x4x5xi64>) -> tensor<f32> {
  // expected-error @+1 {{rotor-autodiff: 'rotor.givens' is not differentiable (it implements no DifferentiableOpInterface rule) (operand #0 depends on a differentiated argument)}}
  %o = rotor.attention %q, %k, %k givens_q(%t : tensor<2xf32>) pairs [(0, 1), (3, 2)] : tensor<1x4x5x16xf32>, tensor<1x2x5x16xf32>, tensor<1x2x5x16xf32>
  %l = rotor.cross_entropy %o, %labels : tensor<1x4x5x16xf32>, tensor<1x4x5xi64>
  return %l : tensor<f32>
}
