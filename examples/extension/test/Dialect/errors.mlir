// RUN: rotor-opt --load-dialect-plugin=%alibi_plugin %s -split-input-file -verify-diagnostics

func.func @element_types(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf16>,
                         %v: tensor<1x2x4x8xf32>) {
  // expected-error @+1 {{query, key and value must share an element type, got 'f32', 'f16' and 'f32'}}
  %o = alibi.attention %q, %k, %v
      : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf16>, tensor<1x2x4x8xf32>
  return
}

// -----

func.func @batch(%q: tensor<1x2x4x8xf32>, %k: tensor<2x2x4x8xf32>,
                 %v: tensor<2x2x4x8xf32>) {
  // expected-error @+1 {{query, key and value batch sizes differ}}
  %o = alibi.attention %q, %k, %v
      : tensor<1x2x4x8xf32>, tensor<2x2x4x8xf32>, tensor<2x2x4x8xf32>
  return
}

// -----

func.func @dynamic_heads(%q: tensor<1x?x4x8xf32>, %k: tensor<1x2x4x8xf32>,
                         %v: tensor<1x2x4x8xf32>) {
  // expected-error @+1 {{head counts must be static}}
  %o = alibi.attention %q, %k, %v
      : tensor<1x?x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>
  return
}

// -----

func.func @kv_heads(%q: tensor<1x4x4x8xf32>, %k: tensor<1x2x4x8xf32>,
                    %v: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{key has 2 heads but value has 1}}
  %o = alibi.attention %q, %k, %v
      : tensor<1x4x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x1x4x8xf32>
  return
}

// -----

func.func @gqa(%q: tensor<1x6x4x8xf32>, %k: tensor<1x4x4x8xf32>,
               %v: tensor<1x4x4x8xf32>) {
  // expected-error @+1 {{6 query heads are not divisible by 4 key/value heads}}
  %o = alibi.attention %q, %k, %v
      : tensor<1x6x4x8xf32>, tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>
  return
}

// -----

func.func @head_dim(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x16xf32>,
                    %v: tensor<1x2x4x8xf32>) {
  // expected-error @+1 {{query head_dim 8 differs from key head_dim 16}}
  %o = alibi.attention %q, %k, %v
      : tensor<1x2x4x8xf32>, tensor<1x2x4x16xf32>, tensor<1x2x4x8xf32>
  return
}

// -----

func.func @positions(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x5x8xf32>,
                     %v: tensor<1x2x6x8xf32>) {
  // expected-error @+1 {{key has 5 positions but value has 6}}
  %o = alibi.attention %q, %k, %v
      : tensor<1x2x4x8xf32>, tensor<1x2x5x8xf32>, tensor<1x2x6x8xf32>
  return
}

// -----

func.func @scale(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>,
                 %v: tensor<1x2x4x8xf32>) {
  // expected-error @+1 {{scale must be positive and finite, got -0.5}}
  %o = alibi.attention %q, %k, %v {scale = -0.5 : f64}
      : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>
  return
}

// -----

func.func @max_bias(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>,
                    %v: tensor<1x2x4x8xf32>) {
  // expected-error @+1 {{max_bias must be positive and finite, got 0}}
  %o = alibi.attention %q, %k, %v {max_bias = 0.0 : f64}
      : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>
  return
}

// -----

func.func @slopes_count(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>,
                        %v: tensor<1x2x4x8xf32>) {
  // expected-error @+1 {{slopes has 3 entries but there are 2 query heads}}
  %o = alibi.attention %q, %k, %v {slopes = array<f64: 0.5, 0.25, 0.125>}
      : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>
  return
}

// -----

func.func @slopes_finite(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>,
                         %v: tensor<1x2x4x8xf32>) {
  // expected-error @+1 {{slope of head 1 is not finite (inf)}}
  %o = alibi.attention %q, %k, %v {slopes = array<f64: 0.5, 0x7FF0000000000000>}
      : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>
  return
}

// -----

func.func @rank(%q: tensor<2x4x8xf32>, %k: tensor<1x2x4x8xf32>,
                %v: tensor<1x2x4x8xf32>) {
  // expected-error @+1 {{alibi.attention: query and value must be 4-D ranked tensors}}
  %o = alibi.attention %q, %k, %v
      : tensor<2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>
  return
}

// -----

func.func @mask(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>,
                %v: tensor<1x2x4x8xf32>) {
  // The rotor dialect verifies its own attribute.
  // expected-error @+1 {{dilation}}
  %o = alibi.attention %q, %k, %v {mask = #rotor.mask<dilation = 0>}
      : tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>
  return
}

// -----

// alibi.attention_grad checks the forward op's rules on its operands...
func.func @grad_heads(%q: tensor<1x3x4x8xf32>, %k: tensor<1x2x4x8xf32>,
                      %v: tensor<1x2x4x8xf32>, %do: tensor<1x3x4x8xf32>) {
  // expected-error @+1 {{3 query heads are not divisible by 2 key/value heads}}
  %dq, %dk, %dv = alibi.attention_grad %q, %k, %v, %do
      : tensor<1x3x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x3x4x8xf32>
  return
}

// -----

// ... and that `grad` has the forward output's type.
func.func @grad_type(%q: tensor<1x4x4x8xf32>, %k: tensor<1x2x4x8xf32>,
                     %v: tensor<1x2x4x6xf32>, %do: tensor<1x4x4x8xf32>) {
  // expected-error @+1 {{grad type 'tensor<1x4x4x8xf32>' is not (batch, query heads, queries, value head_dim) of the query's element type}}
  %dq, %dk, %dv = alibi.attention_grad %q, %k, %v, %do
      : tensor<1x4x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x6xf32>, tensor<1x4x4x8xf32>
  return
}

// -----

func.func @grad_element_type(%q: tensor<1x4x4x8xf32>, %k: tensor<1x2x4x8xf32>,
                             %v: tensor<1x2x4x8xf32>, %do: tensor<1x4x4x8xf64>) {
  // expected-error @+1 {{grad type 'tensor<1x4x4x8xf64>' is not}}
  %dq, %dk, %dv = alibi.attention_grad %q, %k, %v, %do
      : tensor<1x4x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x4x4x8xf64>
  return
}

// -----

// Each cotangent has its operand's type.
func.func @grad_result_type(%q: tensor<1x2x4x8xf32>, %k: tensor<1x2x4x8xf32>,
                            %v: tensor<1x2x4x8xf32>, %do: tensor<1x2x4x8xf32>) {
  // expected-error @+1 {{all of {key, key_grad} have same type}}
  %dq, %dk, %dv = "alibi.attention_grad"(%q, %k, %v, %do)
      : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>)
      -> (tensor<1x2x4x8xf32>, tensor<1x2x5x8xf32>, tensor<1x2x4x8xf32>)
  return
}
