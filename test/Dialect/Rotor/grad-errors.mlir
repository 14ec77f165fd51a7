// RUN: rotor-opt %s -split-input-file -verify-diagnostics

// One case for every verifier rule of the backward ops.

func.func @linear_weight_grad_rank(%dy: tensor<2x?x128xf32>, %x: tensor<?x64xf32>) {
  // expected-error @+1 {{grad and input must have the same rank, got 2x?x128 and ?x64}}
  %0 = rotor.linear_weight_grad %dy, %x : tensor<2x?x128xf32>, tensor<?x64xf32>
  return
}

// -----

func.func @linear_weight_grad_rows(%dy: tensor<2x5x128xf32>, %x: tensor<2x6x64xf32>) {
  // expected-error @+1 {{leading dimension 1 is 5 in grad but 6 in input}}
  %0 = rotor.linear_weight_grad %dy, %x : tensor<2x5x128xf32>, tensor<2x6x64xf32>
  return
}

// -----

func.func @linear_weight_grad_types(%dy: tensor<5x128xf32>, %x: tensor<5x64xf64>) {
  // expected-error @+1 {{input element type 'f64' differs from the input element type 'f32'}}
  %0 = rotor.linear_weight_grad %dy, %x : tensor<5x128xf32>, tensor<5x64xf64>
  return
}

// -----

func.func @cross_entropy_grad_labels(%l: tensor<2x7x100xf32>, %t: tensor<2x8xi64>, %g: tensor<f32>) {
  // expected-error @+1 {{labels dimension 1 is 8 but logits dimension 1 is 7}}
  %0 = rotor.cross_entropy_grad %l, %t, %g : tensor<2x7x100xf32>, tensor<2x8xi64>, tensor<f32>
  return
}

// -----

func.func @cross_entropy_grad_rank(%l: tensor<2x7x100xf32>, %t: tensor<2xi64>, %g: tensor<f32>) {
  // expected-error @+1 {{labels must have the shape of the logits without their class dimension: logits are 2x7x100, labels are 2}}
  %0 = rotor.cross_entropy_grad %l, %t, %g : tensor<2x7x100xf32>, tensor<2xi64>, tensor<f32>
  return
}

// -----

func.func @cross_entropy_grad_classes(%l: tensor<f32>, %t: tensor<i64>, %g: tensor<f32>) {
  // expected-error @+1 {{logits must have a class dimension}}
  %0 = rotor.cross_entropy_grad %l, %t, %g : tensor<f32>, tensor<i64>, tensor<f32>
  return
}

// -----

func.func @cross_entropy_grad_loss_type(%l: tensor<4x10xf64>, %t: tensor<4xi64>, %g: tensor<f32>) {
  // expected-error @+1 {{grad_loss must have the loss element type 'f64', got 'f32'}}
  %0 = rotor.cross_entropy_grad %l, %t, %g : tensor<4x10xf64>, tensor<4xi64>, tensor<f32>
  return
}
