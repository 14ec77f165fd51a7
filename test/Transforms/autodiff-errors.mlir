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

// conv1d's cotangents split the channels into groups and pad by the kernel
// size: both must be static.
func.func @loss(%x: tensor<2x4x?xf32>, %w: tensor<4x?x3xf32>, %labels: tensor<2x4xi64>) -> tensor<f32> {
  // expected-error @+1 {{'rotor.conv1d' op needs static channels and kernel size to be differentiated}}
  %y = rotor.conv1d %x, %w : tensor<2x4x?xf32>, tensor<4x?x3xf32>
  %l = rotor.cross_entropy %y, %labels : tensor<2x4x4xf32>, tensor<2x4xi64>
  return %l : tensor<f32>
}

// -----

// sinusoidal_embedding's cotangents read the sin and cos halves of the
// result: the number of frequencies must be static.
func.func @loss(%p: tensor<4xf32>, %f: tensor<?xf32>, %labels: tensor<4xi64>) -> tensor<f32> {
  // expected-error @+1 {{'rotor.sinusoidal_embedding' op needs a static number of frequencies to be differentiated}}
  %y = rotor.sinusoidal_embedding %p, %f : tensor<4xf32>, tensor<?xf32>
  %l = rotor.cross_entropy %y, %labels : tensor<4x?xf32>, tensor<4xi64>
  return %l : tensor<f32>
}

// -----

// Static-cache decoding ops have no gradient: cache_write implements no rule,
// attention rejects query_start by name.
func.func @loss(%x: tensor<1x1x1x8xf32>, %c: tensor<1x1x4x8xf32>, %p: tensor<1xi64>, %labels: tensor<4xi64>) -> tensor<f32> {
  // expected-error @+1 {{rotor-autodiff: 'rotor.cache_write' is not differentiable (it implements no DifferentiableOpInterface rule) (operand #0 depends on a differentiated argument)}}
  %w = rotor.cache_write %x into %c at %p {axis = 2 : i64} : tensor<1x1x1x8xf32> into tensor<1x1x4x8xf32>, tensor<1xi64>
  %r = tensor.collapse_shape %w [[0, 1, 2], [3]] : tensor<1x1x4x8xf32> into tensor<4x8xf32>
  %l = rotor.cross_entropy %r, %labels : tensor<4x8xf32>, tensor<4xi64>
  return %l : tensor<f32>
}

// -----

func.func @loss(%q: tensor<1x1x4x8xf32>, %c: tensor<1x1x4x8xf32>, %p: tensor<1xi64>, %labels: tensor<4xi64>) -> tensor<f32> {
  // expected-error @+1 {{'rotor.attention' op with query_start (a decoding step over a static cache) cannot be differentiated: train with the plain attention over the whole sequence}}
  %o = rotor.attention %q, %c, %c query_start(%p : tensor<1xi64>) : tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>
  %r = tensor.collapse_shape %o [[0, 1, 2], [3]] : tensor<1x1x4x8xf32> into tensor<4x8xf32>
  %l = rotor.cross_entropy %r, %labels : tensor<4x8xf32>, tensor<4xi64>
  return %l : tensor<f32>
}
