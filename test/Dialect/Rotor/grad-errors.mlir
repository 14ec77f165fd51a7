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

// -----

func.func @embedding_grad_rows(%ids: tensor<2x5xi64>, %dy: tensor<2x5x8xf32>) {
  // expected-error @+1 {{the result must have a static number of rows (the vocabulary size)}}
  %0 = rotor.embedding_grad %ids, %dy : tensor<2x5xi64>, tensor<2x5x8xf32> -> tensor<?x8xf32>
  return
}

// -----

func.func @embedding_grad_shape(%ids: tensor<2x5xi64>, %dy: tensor<2x6x8xf32>) {
  // expected-error @+1 {{ids dimension 1 is 5 but grad dimension 1 is 6}}
  %0 = rotor.embedding_grad %ids, %dy : tensor<2x5xi64>, tensor<2x6x8xf32> -> tensor<10x8xf32>
  return
}

// -----

func.func @embedding_grad_features(%ids: tensor<2x5xi64>, %dy: tensor<2x5x8xf32>) {
  // expected-error @+1 {{the result has 9 features but grad has 8}}
  %0 = rotor.embedding_grad %ids, %dy : tensor<2x5xi64>, tensor<2x5x8xf32> -> tensor<10x9xf32>
  return
}

// -----

func.func @embedding_grad_rank(%ids: tensor<2x5xi64>, %dy: tensor<10x8xf32>) {
  // expected-error @+1 {{grad must have the shape of the ids plus a feature dimension: ids are 2x5, grad is 10x8}}
  %0 = rotor.embedding_grad %ids, %dy : tensor<2x5xi64>, tensor<10x8xf32> -> tensor<10x8xf32>
  return
}

// -----

func.func @rope_base_grad_yarn(%x: tensor<1x2x?x8xf32>, %pos: tensor<?xi64>, %b: tensor<f32>) {
  // expected-error @+1 {{the gradient of a learned base is defined without scaling and with linear or dynamic_ntk scaling, not with yarn}}
  %0 = rotor.rope_base_grad %x, %x, %pos base(%b : tensor<f32>) {scaling = #rotor.rope_scaling<kind = yarn, factor = 4.0, original_max_position = 4>} : tensor<1x2x?x8xf32>, tensor<?xi64>
  return
}

// -----

func.func @rope_base_grad_positions(%x: tensor<1x2x3x8xf32>, %pos: tensor<1x1x3xi64>, %b: tensor<f32>) {
  // expected-error @+1 {{positions must be (seq) or (batch, seq)}}
  %0 = rotor.rope_base_grad %x, %x, %pos base(%b : tensor<f32>) : tensor<1x2x3x8xf32>, tensor<1x1x3xi64>
  return
}

// -----

func.func @rope_base_grad_rotary(%x: tensor<1x2x3x8xf32>, %pos: tensor<3xi64>, %b: tensor<f32>) {
  // expected-error @+1 {{rotary_dim 10 must be even and within head_dim}}
  %0 = rotor.rope_base_grad %x, %x, %pos base(%b : tensor<f32>) {rotary_dim = 10 : i64} : tensor<1x2x3x8xf32>, tensor<3xi64>
  return
}

// -----

func.func @rms_norm_grad_weight(%x: tensor<2x?x64xf32>, %w: tensor<32xf32>) {
  // expected-error @+1 {{weight has 32 entries but the input's last dimension has 64}}
  %0:2 = rotor.rms_norm_grad %x, %w, %x : tensor<2x?x64xf32>, tensor<32xf32>
  return
}

// -----

func.func @attention_grad_lse(%q: tensor<1x4x5x16xf32>, %k: tensor<1x2x5x16xf32>, %lse: tensor<1x4x6xf32>) {
  // expected-error @+1 {{lse must be (batch, query heads, queries) = 1x4x5, got 1x4x6}}
  %0:3 = rotor.attention_grad %q, %k, %k, %q, %lse, %q : tensor<1x4x5x16xf32>, tensor<1x2x5x16xf32>, tensor<1x2x5x16xf32>, tensor<1x4x5x16xf32>, tensor<1x4x6xf32>
  return
}

// -----

func.func @attention_grad_groups(%q: tensor<1x3x5x16xf32>, %k: tensor<1x2x5x16xf32>, %lse: tensor<1x3x5xf32>) {
  // expected-error @+1 {{3 query heads are not divisible by 2 key/value heads}}
  %0:3 = rotor.attention_grad %q, %k, %k, %q, %lse, %q : tensor<1x3x5x16xf32>, tensor<1x2x5x16xf32>, tensor<1x2x5x16xf32>, tensor<1x3x5x16xf32>, tensor<1x3x5xf32>
  return
}

// -----

func.func @givens_grad_odd_pairs(%x: tensor<4x8xf32>, %t: tensor<1xf32>) {
  // expected-error @+1 {{pairs must hold (i, j) index pairs, got an odd number (3) of indices}}
  %dx, %dt = "rotor.givens_grad"(%x, %x, %t) {pairs = array<i64: 0, 1, 2>} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<1xf32>) -> (tensor<4x8xf32>, tensor<1xf32>)
  return
}

// -----

func.func @givens_grad_angles(%x: tensor<4x8xf32>, %t: tensor<3xf32>) {
  // expected-error @+1 {{2 rotations need 2 angles, got 3}}
  %dx, %dt = rotor.givens_grad %x, %x, %t pairs [(0, 1), (2, 3)] : tensor<4x8xf32>, tensor<3xf32>
  return
}

// -----

func.func @givens_grad_range(%x: tensor<4x8xf32>, %t: tensor<1xf32>) {
  // expected-error @+1 {{Givens pair 0 (2, 8) is out of range for a last dimension of 8}}
  %dx, %dt = rotor.givens_grad %x, %x, %t pairs [(2, 8)] : tensor<4x8xf32>, tensor<1xf32>
  return
}

// -----

func.func @givens_grad_same_feature(%x: tensor<4x8xf32>, %t: tensor<2xf32>) {
  // expected-error @+1 {{Givens pair 1 rotates feature 3 against itself}}
  %dx, %dt = rotor.givens_grad %x, %x, %t pairs [(0, 1), (3, 3)] : tensor<4x8xf32>, tensor<2xf32>
  return
}

// -----

func.func @givens_grad_grad_type(%x: tensor<4x8xf32>, %dy: tensor<4x8xf16>, %t: tensor<1xf32>) {
  // expected-error @+1 {{all of {input, grad, input_grad} have same type}}
  %dx, %dt = "rotor.givens_grad"(%x, %dy, %t) {pairs = array<i64: 0, 1>} : (tensor<4x8xf32>, tensor<4x8xf16>, tensor<1xf32>) -> (tensor<4x8xf32>, tensor<1xf32>)
  return
}

// -----

func.func @givens_grad_angles_grad_type(%x: tensor<4x8xf32>, %t: tensor<1xf32>) {
  // expected-error @+1 {{all of {angles, angles_grad} have same type}}
  %dx, %dt = "rotor.givens_grad"(%x, %x, %t) {pairs = array<i64: 0, 1>} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<1xf32>) -> (tensor<4x8xf32>, tensor<1xf16>)
  return
}
