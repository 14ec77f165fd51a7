// RUN: rotor-opt %s -split-input-file -verify-diagnostics

// One case for every verifier rule of the rotor ops and attributes.

//===----------------------------------------------------------------------===//
// rotor.rope
//===----------------------------------------------------------------------===//

func.func @rope_positions_rank(%x: tensor<1x2x8x16xf32>, %p: tensor<1x1x8xi64>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{positions must be (seq) or (batch, seq), got 'tensor<1x1x8xi64>'}}
  %0 = rotor.rope %x, %p : tensor<1x2x8x16xf32>, tensor<1x1x8xi64>
  return %0 : tensor<1x2x8x16xf32>
}

// -----

func.func @rope_positions_length(%x: tensor<1x2x8x16xf32>, %p: tensor<7xi64>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{positions cover 7 tokens but the input has a sequence of 8}}
  %0 = rotor.rope %x, %p : tensor<1x2x8x16xf32>, tensor<7xi64>
  return %0 : tensor<1x2x8x16xf32>
}

// -----

func.func @rope_positions_batch(%x: tensor<2x2x?x16xf32>, %p: tensor<3x?xi64>) -> tensor<2x2x?x16xf32> {
  // expected-error @+1 {{positions have a batch of 3 but the input has a batch of 2}}
  %0 = rotor.rope %x, %p : tensor<2x2x?x16xf32>, tensor<3x?xi64>
  return %0 : tensor<2x2x?x16xf32>
}

// -----

func.func @rope_two_bases(%x: tensor<1x2x8x16xf32>, %p: tensor<8xi64>, %b: tensor<f32>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{the base is given both as the `base` attribute and as a learned_base operand; give one}}
  %0 = rotor.rope %x, %p base(%b : tensor<f32>) {base = 500.0 : f64} : tensor<1x2x8x16xf32>, tensor<8xi64>
  return %0 : tensor<1x2x8x16xf32>
}

// -----

func.func @rope_base_positive(%x: tensor<1x2x8x16xf32>, %p: tensor<8xi64>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{base must be positive and finite, got -1}}
  %0 = rotor.rope %x, %p {base = -1.0 : f64} : tensor<1x2x8x16xf32>, tensor<8xi64>
  return %0 : tensor<1x2x8x16xf32>
}

// -----

func.func @rope_rotary_dim_negative(%x: tensor<1x2x8x16xf32>, %p: tensor<8xi64>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{rotary_dim must be >= 0, got -2}}
  %0 = rotor.rope %x, %p {rotary_dim = -2 : i64} : tensor<1x2x8x16xf32>, tensor<8xi64>
  return %0 : tensor<1x2x8x16xf32>
}

// -----

func.func @rope_rotary_dim_odd(%x: tensor<1x2x8x16xf32>, %p: tensor<8xi64>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{rotary_dim must be even (features rotate in pairs), got 7}}
  %0 = rotor.rope %x, %p {rotary_dim = 7 : i64} : tensor<1x2x8x16xf32>, tensor<8xi64>
  return %0 : tensor<1x2x8x16xf32>
}

// -----

func.func @rope_rotary_dim_too_large(%x: tensor<1x2x8x16xf32>, %p: tensor<8xi64>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{rotary_dim 32 exceeds head_dim 16}}
  %0 = rotor.rope %x, %p {rotary_dim = 32 : i64} : tensor<1x2x8x16xf32>, tensor<8xi64>
  return %0 : tensor<1x2x8x16xf32>
}

// -----

func.func @rope_odd_head_dim(%x: tensor<1x2x8x15xf32>, %p: tensor<8xi64>) -> tensor<1x2x8x15xf32> {
  // expected-error @+1 {{head_dim 15 is odd; features rotate in pairs, so give an even rotary_dim}}
  %0 = rotor.rope %x, %p : tensor<1x2x8x15xf32>, tensor<8xi64>
  return %0 : tensor<1x2x8x15xf32>
}

// -----

func.func @rope_dynamic_ntk_dim(%x: tensor<1x2x8x16xf32>, %p: tensor<8xi64>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{dynamic_ntk scaling needs rotary_dim > 2, got 2}}
  %0 = rotor.rope %x, %p {rotary_dim = 2 : i64, scaling = #rotor.rope_scaling<kind = dynamic_ntk, factor = 2.0, original_max_position = 16>} : tensor<1x2x8x16xf32>, tensor<8xi64>
  return %0 : tensor<1x2x8x16xf32>
}

// -----

func.func @rope_rank(%x: tensor<2x8x16xf32>, %p: tensor<8xi64>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{operand #0 must be 4-D float tensor}}
  %0 = "rotor.rope"(%x, %p) : (tensor<2x8x16xf32>, tensor<8xi64>) -> tensor<2x8x16xf32>
  return %0 : tensor<2x8x16xf32>
}

// -----

//===----------------------------------------------------------------------===//
// #rotor.rope_scaling
//===----------------------------------------------------------------------===//

// expected-error @+1 {{rope scaling factor must be >= 1, got 0.5}}
func.func private @scaling_factor() attributes {s = #rotor.rope_scaling<kind = linear, factor = 0.5>}

// -----

// expected-error @+1 {{yarn rope scaling needs original_max_position > 0}}
func.func private @scaling_original() attributes {s = #rotor.rope_scaling<kind = yarn, factor = 4.0>}

// -----

// expected-error @+1 {{original_max_position must be >= 0, got -4}}
func.func private @scaling_original_negative() attributes {s = #rotor.rope_scaling<kind = linear, factor = 4.0, original_max_position = -4>}

// -----

// expected-error @+1 {{yarn rope scaling needs beta_fast > beta_slow > 0, got beta_fast = 1 and beta_slow = 2}}
func.func private @scaling_betas() attributes {s = #rotor.rope_scaling<kind = yarn, factor = 4.0, original_max_position = 4096, beta_fast = 1.0, beta_slow = 2.0>}

// -----

// expected-error @+1 {{llama3 rope scaling needs high_freq_factor > low_freq_factor > 0, got high_freq_factor = 1 and low_freq_factor = 1}}
func.func private @scaling_llama3() attributes {s = #rotor.rope_scaling<kind = llama3, factor = 8.0, original_max_position = 8192, high_freq_factor = 1.0>}

// -----

// expected-error @+1 {{attention_factor must be >= 0 (0 selects the default), got -1}}
func.func private @scaling_attention_factor() attributes {s = #rotor.rope_scaling<kind = yarn, factor = 4.0, original_max_position = 4096, attention_factor = -1.0>}

// -----

// expected-error @+1 {{rope scaling factor must be finite, got inf}}
func.func private @scaling_finite() attributes {s = #rotor.rope_scaling<kind = linear, factor = 0x7FF0000000000000>}

// -----

//===----------------------------------------------------------------------===//
// #rotor.mask
//===----------------------------------------------------------------------===//

// expected-error @+1 {{mask window_left must be >= 0, got -1}}
func.func private @mask_left() attributes {m = #rotor.mask<window_left = -1>}

// -----

// expected-error @+1 {{mask window_right must be >= 0, got -5}}
func.func private @mask_right() attributes {m = #rotor.mask<window_right = -5>}

// -----

// expected-error @+1 {{a causal mask sees no key to the right, but window_right = 3}}
func.func private @mask_causal_right() attributes {m = #rotor.mask<causal = true, window_right = 3>}

// -----

// expected-error @+1 {{mask dilation must be >= 1, got 0}}
func.func private @mask_dilation() attributes {m = #rotor.mask<dilation = 0>}

// -----

// expected-error @+1 {{mask chunk must be >= 1, got 0}}
func.func private @mask_chunk() attributes {m = #rotor.mask<chunk = 0>}

// -----

// expected-error @+1 {{mask global must be >= 0, got -2}}
func.func private @mask_global() attributes {m = #rotor.mask<global = -2>}

// -----

//===----------------------------------------------------------------------===//
// rotor.givens / rotor.rotate
//===----------------------------------------------------------------------===//

func.func @givens_rank(%x: tensor<f32>, %t: tensor<1xf32>) -> tensor<f32> {
  // expected-error @+1 {{input must have at least one dimension}}
  %0 = rotor.givens %x, %t pairs [(0, 1)] : tensor<f32>, tensor<1xf32>
  return %0 : tensor<f32>
}

// -----

func.func @givens_odd_pairs(%x: tensor<4x8xf32>, %t: tensor<1xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{pairs must hold (i, j) index pairs, got an odd number (3) of indices}}
  %0 = "rotor.givens"(%x, %t) <{pairs = array<i64: 0, 1, 2>}> : (tensor<4x8xf32>, tensor<1xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @givens_angle_count(%x: tensor<4x8xf32>, %t: tensor<3xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{2 rotations need 2 angles, got 3}}
  %0 = rotor.givens %x, %t pairs [(0, 1), (2, 3)] : tensor<4x8xf32>, tensor<3xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @givens_same_feature(%x: tensor<4x8xf32>, %t: tensor<2xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{Givens pair 1 rotates feature 3 against itself}}
  %0 = rotor.givens %x, %t pairs [(0, 1), (3, 3)] : tensor<4x8xf32>, tensor<2xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @givens_out_of_range(%x: tensor<4x8xf32>, %t: tensor<1xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{Givens pair 0 (2, 8) is out of range for a last dimension of 8}}
  %0 = rotor.givens %x, %t pairs [(2, 8)] : tensor<4x8xf32>, tensor<1xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @givens_negative(%x: tensor<4x?xf32>, %t: tensor<1xf32>) -> tensor<4x?xf32> {
  // expected-error @+1 {{Givens pair 0 (-1, 0) is out of range for a last dimension of ?}}
  %0 = rotor.givens %x, %t pairs [(-1, 0)] : tensor<4x?xf32>, tensor<1xf32>
  return %0 : tensor<4x?xf32>
}

// -----

func.func @rotate_rank(%x: tensor<f32>, %r: tensor<1x1xf32>) -> tensor<f32> {
  // expected-error @+1 {{input must have at least one dimension}}
  %0 = rotor.rotate %x, %r : tensor<f32>, tensor<1x1xf32>
  return %0 : tensor<f32>
}

// -----

func.func @rotate_square(%x: tensor<4x8xf32>, %r: tensor<8x4xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{rotation matrix must be square, got 8x4}}
  %0 = rotor.rotate %x, %r : tensor<4x8xf32>, tensor<8x4xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @rotate_size(%x: tensor<4x8xf32>, %r: tensor<?x16xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{rotation matrix is ?x16 but the last dimension of the input is 8}}
  %0 = rotor.rotate %x, %r : tensor<4x8xf32>, tensor<?x16xf32>
  return %0 : tensor<4x8xf32>
}

// -----

func.func @rotate_element_type(%x: tensor<4x8xf32>, %r: tensor<8x8xbf16>) -> tensor<4x8xf32> {
  // expected-error @+1 {{rotation element type 'bf16' differs from the input element type 'f32'}}
  %0 = rotor.rotate %x, %r : tensor<4x8xf32>, tensor<8x8xbf16>
  return %0 : tensor<4x8xf32>
}

// -----

//===----------------------------------------------------------------------===//
// rotor.attention
//===----------------------------------------------------------------------===//

func.func @attention_element_types(%q: tensor<1x4x8x16xf32>, %k: tensor<1x4x8x16xbf16>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{query, key and value must share an element type, got 'f32', 'bf16' and 'bf16'}}
  %0 = rotor.attention %q, %k, %k : tensor<1x4x8x16xf32>, tensor<1x4x8x16xbf16>, tensor<1x4x8x16xbf16>
  return %0 : tensor<1x4x8x16xf32>
}

// -----

func.func @attention_batch(%q: tensor<2x4x8x16xf32>, %k: tensor<3x4x8x16xf32>) -> tensor<2x4x8x16xf32> {
  // expected-error @+1 {{batch sizes differ: query 2, key 3, value 3}}
  %0 = rotor.attention %q, %k, %k : tensor<2x4x8x16xf32>, tensor<3x4x8x16xf32>, tensor<3x4x8x16xf32>
  return %0 : tensor<2x4x8x16xf32>
}

// -----

func.func @attention_kv_heads(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x1x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{key has 2 heads but value has 1}}
  %0 = rotor.attention %q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x1x8x16xf32>
  return %0 : tensor<1x4x8x16xf32>
}

// -----

func.func @attention_zero_kv_heads(%q: tensor<1x4x8x16xf32>, %k: tensor<1x0x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{there must be at least one key/value head}}
  %0 = rotor.attention %q, %k, %k : tensor<1x4x8x16xf32>, tensor<1x0x8x16xf32>, tensor<1x0x8x16xf32>
  return %0 : tensor<1x4x8x16xf32>
}

// -----

func.func @attention_gqa(%q: tensor<1x32x8x16xf32>, %k: tensor<1x6x8x16xf32>) -> tensor<1x32x8x16xf32> {
  // expected-error @+1 {{32 query heads are not divisible by 6 key/value heads}}
  %0 = rotor.attention %q, %k, %k : tensor<1x32x8x16xf32>, tensor<1x6x8x16xf32>, tensor<1x6x8x16xf32>
  return %0 : tensor<1x32x8x16xf32>
}

// -----

func.func @attention_head_dim(%q: tensor<1x4x8x16xf32>, %k: tensor<1x4x8x32xf32>) -> tensor<1x4x8x32xf32> {
  // expected-error @+1 {{query head_dim 16 differs from key head_dim 32}}
  %0 = rotor.attention %q, %k, %k : tensor<1x4x8x16xf32>, tensor<1x4x8x32xf32>, tensor<1x4x8x32xf32>
  return %0 : tensor<1x4x8x32xf32>
}

// -----

func.func @attention_kv_length(%q: tensor<1x4x8x16xf32>, %k: tensor<1x4x8x16xf32>, %v: tensor<1x4x9x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{key has 8 positions but value has 9}}
  %0 = rotor.attention %q, %k, %v : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x9x16xf32>
  return %0 : tensor<1x4x8x16xf32>
}

// -----

func.func @attention_rope_attrs_alone(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{rope attributes and rope_learned_base need query_positions or key_positions (rope_q or rope_k)}}
  %0 = rotor.attention %q, %q, %q {rope_base = 10000.0 : f64} : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return %0 : tensor<1x4x8x16xf32>
}

// -----

func.func @attention_givens_q_pairs_alone(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{givens_q_pairs needs query_givens_angles (givens_q)}}
  %0 = rotor.attention %q, %q, %q {givens_q_pairs = array<i64: 0, 1>} : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return %0 : tensor<1x4x8x16xf32>
}

// -----

func.func @attention_givens_q_angles_alone(%q: tensor<1x4x8x16xf32>, %t: tensor<1xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{query_givens_angles (givens_q) needs givens_q_pairs}}
  %0 = "rotor.attention"(%q, %q, %q, %t) {operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 1, 0, 0>, bias_max_distance = 128 : i64} : (tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1xf32>) -> tensor<1x4x8x16xf32>
  return %0 : tensor<1x4x8x16xf32>
}

// -----

func.func @attention_givens_q_odd_pairs(%q: tensor<1x4x8x16xf32>, %t: tensor<1xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{givens_q: pairs must hold (i, j) index pairs, got an odd number (3) of indices}}
  %0 = "rotor.attention"(%q, %q, %q, %t) {operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 1, 0, 0>, bias_max_distance = 128 : i64, givens_q_pairs = array<i64: 0, 1, 2>} : (tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1xf32>) -> tensor<1x4x8x16xf32>
  return %0 : tensor<1x4x8x16xf32>
}

// -----

func.func @attention_givens_q_range(%q: tensor<1x4x8x16xf32>, %t: tensor<2xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{givens_q: Givens pair 1 (3, 16) is out of range for a last dimension of 16}}
  %0 = rotor.attention %q, %q, %q givens_q(%t : tensor<2xf32>) pairs [(0, 1), (3, 16)] : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return %0 : tensor<1x4x8x16xf32>
}

// -----

func.func @attention_givens_q_self(%q: tensor<1x4x8x16xf32>, %t: tensor<1xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{givens_q: Givens pair 0 rotates feature 4 against itself}}
  %0 = rotor.attention %q, %q, %q givens_q(%t : tensor<1xf32>) pairs [(4, 4)] : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return %0 : tensor<1x4x8x16xf32>
}

// -----

func.func @attention_givens_q_angles(%q: tensor<1x4x8x16xf32>, %t: tensor<3xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{givens_q: 2 rotations need 2 angles, got 3}}
  %0 = rotor.attention %q, %q, %q givens_q(%t : tensor<3xf32>) pairs [(0, 1), (2, 3)] : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return %0 : tensor<1x4x8x16xf32>
}

// -----

func.func @attention_rotate_q_shape(%q: tensor<1x4x8x16xf32>, %r: tensor<16x8xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{rotate_q: the rotation matrix is 16x8 but the query head dimension is 16}}
  %0 = rotor.attention %q, %q, %q rotate_q(%r : tensor<16x8xf32>) : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return %0 : tensor<1x4x8x16xf32>
}

// -----

func.func @attention_rotate_q_head_dim(%q: tensor<1x4x8x16xf32>, %r: tensor<32x32xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{rotate_q: the rotation matrix is 32x32 but the query head dimension is 16}}
  %0 = rotor.attention %q, %q, %q rotate_q(%r : tensor<32x32xf32>) : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return %0 : tensor<1x4x8x16xf32>
}

// -----

func.func @attention_rotate_q_type(%q: tensor<1x4x8x16xf32>, %r: tensor<16x16xbf16>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{query_rotation element type 'bf16' differs from the input element type 'f32'}}
  %0 = rotor.attention %q, %q, %q rotate_q(%r : tensor<16x16xbf16>) : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return %0 : tensor<1x4x8x16xf32>
}

// -----

func.func @attention_rope_query_positions(%q: tensor<1x4x8x16xf32>, %p: tensor<7xi64>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{query positions cover 7 tokens but it has a sequence of 8}}
  %0 = rotor.attention %q, %q, %q rope_q(%p : tensor<7xi64>) : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return %0 : tensor<1x4x8x16xf32>
}

// -----

func.func @attention_rope_key_batch(%q: tensor<2x4x1x16xf32>, %k: tensor<2x4x8x16xf32>, %p: tensor<3x8xi64>) -> tensor<2x4x1x16xf32> {
  // expected-error @+1 {{key positions have a batch of 3 but it has a batch of 2}}
  %0 = rotor.attention %q, %k, %k rope_k(%p : tensor<3x8xi64>) : tensor<2x4x1x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>
  return %0 : tensor<2x4x1x16xf32>
}

// -----

func.func @attention_rope_rotary_dim(%q: tensor<1x4x8x16xf32>, %p: tensor<8xi64>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{rotary_dim 32 exceeds head_dim 16}}
  %0 = rotor.attention %q, %q, %q rope_q(%p : tensor<8xi64>) {rope_rotary_dim = 32 : i64} : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return %0 : tensor<1x4x8x16xf32>
}

// -----

func.func @attention_rope_two_bases(%q: tensor<1x4x8x16xf32>, %p: tensor<8xi64>, %b: tensor<f32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{the base is given both as the `base` attribute and as a learned_base operand; give one}}
  %0 = rotor.attention %q, %q, %q rope_k(%p : tensor<8xi64>) rope_learned_base(%b : tensor<f32>) {rope_base = 10.0 : f64} : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return %0 : tensor<1x4x8x16xf32>
}

// -----

func.func @attention_scale(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{scale must be positive and finite, got 0}}
  %0 = rotor.attention %q, %q, %q {scale = 0.0 : f64} : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return %0 : tensor<1x4x8x16xf32>
}

// -----

func.func @attention_softcap(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{softcap must be positive and finite, got -30}}
  %0 = rotor.attention %q, %q, %q {softcap = -30.0 : f64} : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return %0 : tensor<1x4x8x16xf32>
}

// -----

func.func @attention_bias_rows(%q: tensor<1x4x8x16xf32>, %t: tensor<2x32xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{relative position bias table has 2 rows but there are 4 query heads}}
  %0 = rotor.attention %q, %q, %q bias(%t : tensor<2x32xf32>) : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return %0 : tensor<1x4x8x16xf32>
}

// -----

func.func @attention_bias_buckets(%q: tensor<1x4x8x16xf32>, %t: tensor<4x0xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{relative position bias table has no buckets}}
  %0 = rotor.attention %q, %q, %q bias(%t : tensor<4x0xf32>) : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return %0 : tensor<1x4x8x16xf32>
}

// -----

func.func @attention_bias_distance(%q: tensor<1x4x8x16xf32>, %t: tensor<4x32xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{bias_max_distance must be >= 1, got 0}}
  %0 = rotor.attention %q, %q, %q bias(%t : tensor<4x32xf32>) {bias_max_distance = 0 : i64} : tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>
  return %0 : tensor<1x4x8x16xf32>
}

// -----

func.func @attention_lse_without_flag(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-error @+1 {{an lse result needs return_lse}}
  %0, %1 = "rotor.attention"(%q, %q, %q) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0, 0, 0>}> : (tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>) -> (tensor<1x4x8x16xf32>, tensor<1x4x8xf32>)
  return %0 : tensor<1x4x8x16xf32>
}

// -----

func.func @attention_wrong_result(%q: tensor<1x4x8x16xf32>) -> tensor<1x4x8x8xf32> {
  // expected-error @+2 {{inferred type(s) 'tensor<1x4x8x16xf32>' are incompatible with return type(s) of operation 'tensor<1x4x8x8xf32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = "rotor.attention"(%q, %q, %q) <{operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0, 0, 0>}> : (tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>, tensor<1x4x8x16xf32>) -> tensor<1x4x8x8xf32>
  return %0 : tensor<1x4x8x8xf32>
}

// -----

//===----------------------------------------------------------------------===//
// Linear, conv1d, norms
//===----------------------------------------------------------------------===//

func.func @linear_features(%x: tensor<2x?x64xf32>, %w: tensor<96x63xf32>) -> tensor<2x?x96xf32> {
  // expected-error @+1 {{input has 64 features but the weight expects 63 (weight is 96x63)}}
  %0 = rotor.linear %x, %w : tensor<2x?x64xf32>, tensor<96x63xf32>
  return %0 : tensor<2x?x96xf32>
}

// -----

func.func @linear_weight_type(%x: tensor<2x64xf32>, %w: tensor<96x64xbf16>) -> tensor<2x96xf32> {
  // expected-error @+1 {{weight element type 'bf16' differs from the input element type 'f32'}}
  %0 = rotor.linear %x, %w : tensor<2x64xf32>, tensor<96x64xbf16>
  return %0 : tensor<2x96xf32>
}

// -----

func.func @linear_bias(%x: tensor<2x64xf32>, %w: tensor<96x64xf32>, %b: tensor<95xf32>) -> tensor<2x96xf32> {
  // expected-error @+1 {{bias has 95 entries but the weight's output dimension has 96}}
  %0 = rotor.linear %x, %w bias(%b : tensor<95xf32>) : tensor<2x64xf32>, tensor<96x64xf32>
  return %0 : tensor<2x96xf32>
}

// -----

func.func @linear_bias_type(%x: tensor<2x64xf32>, %w: tensor<96x64xf32>, %b: tensor<96xf16>) -> tensor<2x96xf32> {
  // expected-error @+1 {{bias element type 'f16' differs from the input element type 'f32'}}
  %0 = rotor.linear %x, %w bias(%b : tensor<96xf16>) : tensor<2x64xf32>, tensor<96x64xf32>
  return %0 : tensor<2x96xf32>
}

// -----

func.func @linear_scalar(%x: tensor<f32>, %w: tensor<96x64xf32>) {
  // expected-error @+1 {{input must have at least one dimension}}
  %0 = rotor.linear %x, %w : tensor<f32>, tensor<96x64xf32>
  return
}

// -----

func.func @conv_groups(%x: tensor<2x?x64xf32>, %w: tensor<64x1x4xf32>) -> tensor<2x?x64xf32> {
  // expected-error @+1 {{groups must be >= 1, got 0}}
  %0 = rotor.conv1d %x, %w {groups = 0 : i64} : tensor<2x?x64xf32>, tensor<64x1x4xf32>
  return %0 : tensor<2x?x64xf32>
}

// -----

func.func @conv_in_channels(%x: tensor<2x?x63xf32>, %w: tensor<64x1x4xf32>) -> tensor<2x?x64xf32> {
  // expected-error @+1 {{63 input channels are not divisible by 2 groups}}
  %0 = rotor.conv1d %x, %w {groups = 2 : i64} : tensor<2x?x63xf32>, tensor<64x1x4xf32>
  return %0 : tensor<2x?x64xf32>
}

// -----

func.func @conv_out_channels(%x: tensor<2x?x64xf32>, %w: tensor<63x32x4xf32>) -> tensor<2x?x63xf32> {
  // expected-error @+1 {{63 output channels are not divisible by 2 groups}}
  %0 = rotor.conv1d %x, %w {groups = 2 : i64} : tensor<2x?x64xf32>, tensor<63x32x4xf32>
  return %0 : tensor<2x?x63xf32>
}

// -----

func.func @conv_group_channels(%x: tensor<2x?x64xf32>, %w: tensor<64x2x4xf32>) -> tensor<2x?x64xf32> {
  // expected-error @+1 {{weight has 2 input channels per group but 64 channels in 64 groups need 1}}
  %0 = rotor.conv1d %x, %w {groups = 64 : i64} : tensor<2x?x64xf32>, tensor<64x2x4xf32>
  return %0 : tensor<2x?x64xf32>
}

// -----

func.func @conv_kernel(%x: tensor<2x?x64xf32>, %w: tensor<64x64x0xf32>) -> tensor<2x?x64xf32> {
  // expected-error @+1 {{kernel size must be >= 1, got 0}}
  %0 = rotor.conv1d %x, %w : tensor<2x?x64xf32>, tensor<64x64x0xf32>
  return %0 : tensor<2x?x64xf32>
}

// -----

func.func @conv_weight_type(%x: tensor<2x?x64xf32>, %w: tensor<64x64x3xf64>) -> tensor<2x?x64xf32> {
  // expected-error @+1 {{weight element type 'f64' differs from the input element type 'f32'}}
  %0 = rotor.conv1d %x, %w : tensor<2x?x64xf32>, tensor<64x64x3xf64>
  return %0 : tensor<2x?x64xf32>
}

// -----

func.func @conv_bias(%x: tensor<2x?x64xf32>, %w: tensor<64x64x3xf32>, %b: tensor<32xf32>) -> tensor<2x?x64xf32> {
  // expected-error @+1 {{bias has 32 entries but the output channels has 64}}
  %0 = rotor.conv1d %x, %w bias(%b : tensor<32xf32>) : tensor<2x?x64xf32>, tensor<64x64x3xf32>
  return %0 : tensor<2x?x64xf32>
}

// -----

func.func @rms_norm_weight(%x: tensor<2x?x64xf32>, %w: tensor<32xf32>) -> tensor<2x?x64xf32> {
  // expected-error @+1 {{weight has 32 entries but the input's last dimension has 64}}
  %0 = rotor.rms_norm %x, %w : tensor<2x?x64xf32>, tensor<32xf32>
  return %0 : tensor<2x?x64xf32>
}

// -----

func.func @rms_norm_epsilon(%x: tensor<2x?x64xf32>, %w: tensor<64xf32>) -> tensor<2x?x64xf32> {
  // expected-error @+1 {{epsilon must be >= 0 and finite, got -1}}
  %0 = rotor.rms_norm %x, %w {epsilon = -1.0 : f64} : tensor<2x?x64xf32>, tensor<64xf32>
  return %0 : tensor<2x?x64xf32>
}

// -----

func.func @rms_norm_scalar(%x: tensor<f32>, %w: tensor<1xf32>) -> tensor<f32> {
  // expected-error @+1 {{input must have at least one dimension}}
  %0 = rotor.rms_norm %x, %w : tensor<f32>, tensor<1xf32>
  return %0 : tensor<f32>
}

// -----

func.func @rms_norm_weight_type(%x: tensor<2x64xf32>, %w: tensor<64xbf16>) -> tensor<2x64xf32> {
  // expected-error @+1 {{weight element type 'bf16' differs from the input element type 'f32'}}
  %0 = rotor.rms_norm %x, %w : tensor<2x64xf32>, tensor<64xbf16>
  return %0 : tensor<2x64xf32>
}

// -----

func.func @layer_norm_bias(%x: tensor<2x?x64xf32>, %w: tensor<64xf32>, %b: tensor<65xf32>) -> tensor<2x?x64xf32> {
  // expected-error @+1 {{bias has 65 entries but the input's last dimension has 64}}
  %0 = rotor.layer_norm %x, %w bias(%b : tensor<65xf32>) : tensor<2x?x64xf32>, tensor<64xf32>
  return %0 : tensor<2x?x64xf32>
}

// -----

func.func @l2_epsilon(%x: tensor<2x?x64xf32>) -> tensor<2x?x64xf32> {
  // expected-error @+1 {{epsilon must be >= 0 and finite, got -0.5}}
  %0 = rotor.l2_normalize %x {epsilon = -0.5 : f64} : tensor<2x?x64xf32>
  return %0 : tensor<2x?x64xf32>
}

// -----

//===----------------------------------------------------------------------===//
// Elementwise, softmax, heads, loss
//===----------------------------------------------------------------------===//

func.func @add_broadcast(%x: tensor<2x3xf32>, %y: tensor<4xf32>) {
  // expected-error @+1 {{operand shapes 2x3 and 4 do not broadcast}}
  %0 = rotor.add %x, %y : tensor<2x3xf32>, tensor<4xf32>
  return
}

// -----

func.func @add_broadcast_generic(%x: tensor<2x3xf32>, %y: tensor<4xf32>) {
  // expected-error @+1 {{operand shapes 2x3 and 4 do not broadcast}}
  %0 = "rotor.add"(%x, %y) : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @mul_element_types(%x: tensor<2x3xf32>, %y: tensor<3xf16>) -> tensor<2x3xf32> {
  // expected-error @+1 {{operands must share an element type, got 'f32' and 'f16'}}
  %0 = rotor.mul %x, %y : tensor<2x3xf32>, tensor<3xf16>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @softmax_axis(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{axis 2 is out of range for rank 2}}
  %0 = rotor.softmax %x {axis = 2 : i64} : tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @split_heads_divisible(%x: tensor<2x?x100xf32>) {
  // expected-error @+1 {{100 features are not divisible by 3 heads}}
  %0 = rotor.split_heads %x into 3 heads : tensor<2x?x100xf32>
  return
}

// -----

func.func @split_heads_count(%x: tensor<2x?x100xf32>) {
  // expected-error @+1 {{num_heads must be >= 1, got 0}}
  %0 = rotor.split_heads %x into 0 heads : tensor<2x?x100xf32>
  return
}

// -----

func.func @cross_entropy_rank(%l: tensor<2x?x10xf32>, %y: tensor<2xi64>) -> tensor<f32> {
  // expected-error @+1 {{labels must have the shape of the logits without their class dimension: logits are 2x?x10, labels are 2}}
  %0 = rotor.cross_entropy %l, %y : tensor<2x?x10xf32>, tensor<2xi64>
  return %0 : tensor<f32>
}

// -----

func.func @cross_entropy_dims(%l: tensor<2x7x10xf32>, %y: tensor<2x8xi64>) -> tensor<f32> {
  // expected-error @+1 {{labels dimension 1 is 8 but logits dimension 1 is 7}}
  %0 = rotor.cross_entropy %l, %y : tensor<2x7x10xf32>, tensor<2x8xi64>
  return %0 : tensor<f32>
}

// -----

func.func @cross_entropy_scalar(%l: tensor<f32>, %y: tensor<i64>) -> tensor<f32> {
  // expected-error @+1 {{logits must have a class dimension}}
  %0 = rotor.cross_entropy %l, %y : tensor<f32>, tensor<i64>
  return %0 : tensor<f32>
}

// -----

func.func @swiglu_types(%g: tensor<2x8xf32>, %u: tensor<2x9xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{all of {gate, up, result} have same type}}
  %0 = "rotor.swiglu"(%g, %u) : (tensor<2x8xf32>, tensor<2x9xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

func.func @fused_linear_features(%x: tensor<2x64xf32>, %w: tensor<32x63xf32>) -> tensor<2x32xf32> {
  // expected-error @+1 {{input has 64 features but the weight expects 63 (weight is 32x63)}}
  %0 = rotor.fused_linear %x, %w : tensor<2x64xf32>, tensor<32x63xf32>
  return %0 : tensor<2x32xf32>
}

// -----

func.func @fused_linear_residual(%x: tensor<2x64xf32>, %w: tensor<32x64xf32>, %r: tensor<2x31xf32>) -> tensor<2x32xf32> {
  // expected-error @+1 {{residual type 'tensor<2x31xf32>' differs from the result type 'tensor<2x32xf32>'}}
  %0 = rotor.fused_linear %x, %w residual(%r : tensor<2x31xf32>) : tensor<2x64xf32>, tensor<32x64xf32>
  return %0 : tensor<2x32xf32>
}

// -----

func.func @fused_gate_up_features(%x: tensor<2x64xf32>, %g: tensor<32x64xf32>, %u: tensor<16x64xf32>) -> tensor<2x32xf32> {
  // expected-error @+1 {{gate_weight has 32 output features but up_weight has 16}}
  %0 = rotor.fused_gate_up %x, %g, %u : tensor<2x64xf32>, tensor<32x64xf32>, tensor<16x64xf32>
  return %0 : tensor<2x32xf32>
}

// -----

func.func @fused_gate_up_input(%x: tensor<2x60xf32>, %g: tensor<32x64xf32>, %u: tensor<32x64xf32>) -> tensor<2x32xf32> {
  // expected-error @+1 {{input has 60 features but the gate_weight expects 64 (gate_weight is 32x64)}}
  %0 = rotor.fused_gate_up %x, %g, %u : tensor<2x60xf32>, tensor<32x64xf32>, tensor<32x64xf32>
  return %0 : tensor<2x32xf32>
}

// -----

func.func @fused_linear_norm_without_epsilon(%x: tensor<2x64xf32>, %w: tensor<32x64xf32>, %g: tensor<64xf32>) -> tensor<2x32xf32> {
  // expected-error @+1 {{rms_norm weight and norm_epsilon go together; got only the weight}}
  %0 = rotor.fused_linear %x, %w rms_norm(%g : tensor<64xf32>) : tensor<2x64xf32>, tensor<32x64xf32>
  return %0 : tensor<2x32xf32>
}

// -----

func.func @fused_linear_epsilon_without_norm(%x: tensor<2x64xf32>, %w: tensor<32x64xf32>) -> tensor<2x32xf32> {
  // expected-error @+1 {{rms_norm weight and norm_epsilon go together; got only the epsilon}}
  %0 = rotor.fused_linear %x, %w {norm_epsilon = 1.0e-05 : f64} : tensor<2x64xf32>, tensor<32x64xf32>
  return %0 : tensor<2x32xf32>
}

// -----

func.func @fused_gate_up_norm_features(%x: tensor<2x64xf32>, %g: tensor<32x64xf32>, %u: tensor<32x64xf32>, %n: tensor<63xf32>) -> tensor<2x32xf32> {
  // expected-error @+1 {{rms_norm weight has 63 entries but the input's last dimension has 64}}
  %0 = rotor.fused_gate_up %x, %g, %u rms_norm(%n : tensor<63xf32>) {norm_epsilon = 1.0e-05 : f64} : tensor<2x64xf32>, tensor<32x64xf32>, tensor<32x64xf32>
  return %0 : tensor<2x32xf32>
}

// -----

func.func @fused_gate_up_norm_epsilon(%x: tensor<2x64xf32>, %g: tensor<32x64xf32>, %u: tensor<32x64xf32>, %n: tensor<64xf32>) -> tensor<2x32xf32> {
  // expected-error @+1 {{epsilon must be >= 0 and finite, got -1}}
  %0 = rotor.fused_gate_up %x, %g, %u rms_norm(%n : tensor<64xf32>) {norm_epsilon = -1.0 : f64} : tensor<2x64xf32>, tensor<32x64xf32>, tensor<32x64xf32>
  return %0 : tensor<2x32xf32>
}

// -----

func.func @fused_linear_norm_dtype(%x: tensor<2x64xf32>, %w: tensor<32x64xf32>, %n: tensor<64xbf16>) -> tensor<2x32xf32> {
  // expected-error @+1 {{rms_norm weight element type 'bf16' differs from the input element type 'f32'}}
  %0 = rotor.fused_linear %x, %w rms_norm(%n : tensor<64xbf16>) {norm_epsilon = 1.0e-05 : f64} : tensor<2x64xf32>, tensor<32x64xf32>
  return %0 : tensor<2x32xf32>
}

// -----

func.func @attention_query_start_shape(%q: tensor<1x2x1x64xf32>, %k: tensor<1x2x?x64xf32>, %p: tensor<2xi64>) -> tensor<1x2x1x64xf32> {
  // expected-error @+1 {{query_start must hold one integer (shape [] or [1]), got [2]}}
  %0 = rotor.attention %q, %k, %k query_start(%p : tensor<2xi64>) : tensor<1x2x1x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
  return %0 : tensor<1x2x1x64xf32>
}

// -----

func.func @attention_query_start_dynamic(%q: tensor<1x2x1x64xf32>, %k: tensor<1x2x?x64xf32>, %p: tensor<?xi64>) -> tensor<1x2x1x64xf32> {
  // expected-error @+1 {{query_start must hold one integer (shape [] or [1]), got [?]}}
  %0 = rotor.attention %q, %k, %k query_start(%p : tensor<?xi64>) : tensor<1x2x1x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
  return %0 : tensor<1x2x1x64xf32>
}

// -----

func.func @cache_write_dtype(%u: tensor<1x2x1x8xbf16>, %c: tensor<1x2x?x8xf32>, %p: tensor<1xi64>) -> tensor<1x2x?x8xf32> {
  // expected-error @+1 {{update has element type 'bf16' but the cache has 'f32'}}
  %0 = rotor.cache_write %u into %c at %p {axis = 2 : i64} : tensor<1x2x1x8xbf16> into tensor<1x2x?x8xf32>, tensor<1xi64>
  return %0 : tensor<1x2x?x8xf32>
}

// -----

func.func @cache_write_rank(%u: tensor<2x1x8xf32>, %c: tensor<1x2x?x8xf32>, %p: tensor<1xi64>) -> tensor<1x2x?x8xf32> {
  // expected-error @+1 {{update has rank 3 but the cache has rank 4}}
  %0 = rotor.cache_write %u into %c at %p {axis = 2 : i64} : tensor<2x1x8xf32> into tensor<1x2x?x8xf32>, tensor<1xi64>
  return %0 : tensor<1x2x?x8xf32>
}

// -----

func.func @cache_write_axis(%u: tensor<1x2x1x8xf32>, %c: tensor<1x2x?x8xf32>, %p: tensor<1xi64>) -> tensor<1x2x?x8xf32> {
  // expected-error @+1 {{axis 4 is out of range for a rank-4 cache}}
  %0 = rotor.cache_write %u into %c at %p {axis = 4 : i64} : tensor<1x2x1x8xf32> into tensor<1x2x?x8xf32>, tensor<1xi64>
  return %0 : tensor<1x2x?x8xf32>
}

// -----

func.func @cache_write_heads(%u: tensor<1x3x1x8xf32>, %c: tensor<1x2x?x8xf32>, %p: tensor<1xi64>) -> tensor<1x2x?x8xf32> {
  // expected-error @+1 {{update is 1x3x1x8 but the cache is 1x2x?x8: dimension 1 must match (only axis 2 may differ)}}
  %0 = rotor.cache_write %u into %c at %p {axis = 2 : i64} : tensor<1x3x1x8xf32> into tensor<1x2x?x8xf32>, tensor<1xi64>
  return %0 : tensor<1x2x?x8xf32>
}

// -----

func.func @cache_write_too_many_rows(%u: tensor<1x2x9x8xf32>, %c: tensor<1x2x4x8xf32>, %p: tensor<1xi64>) -> tensor<1x2x4x8xf32> {
  // expected-error @+1 {{update has 9 rows along axis 2 but the cache holds only 4}}
  %0 = rotor.cache_write %u into %c at %p {axis = 2 : i64} : tensor<1x2x9x8xf32> into tensor<1x2x4x8xf32>, tensor<1xi64>
  return %0 : tensor<1x2x4x8xf32>
}

// -----

func.func @cache_write_start(%u: tensor<1x2x1x8xf32>, %c: tensor<1x2x?x8xf32>, %p: tensor<1x1xi64>) -> tensor<1x2x?x8xf32> {
  // expected-error @+1 {{start must hold one integer (shape [] or [1]), got [1, 1]}}
  %0 = rotor.cache_write %u into %c at %p {axis = 2 : i64} : tensor<1x2x1x8xf32> into tensor<1x2x?x8xf32>, tensor<1x1xi64>
  return %0 : tensor<1x2x?x8xf32>
}
