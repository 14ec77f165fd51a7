// RUN: rotor-opt --load-dialect-plugin=%alibi_plugin %s \
// RUN:   | rotor-opt --load-dialect-plugin=%alibi_plugin | FileCheck %s

// The op round-trips through the printer and parser with each attribute;
// #rotor.mask is the rotor dialect's attribute, parsed by the tool's rotor
// dialect.

// CHECK-LABEL: func.func @causal
// CHECK: %[[O:.*]] = alibi.attention %{{.*}}, %{{.*}}, %{{.*}} {mask = #rotor.mask<causal = true>} : tensor<1x8x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
// CHECK: return %[[O]] : tensor<1x8x?x64xf32>
func.func @causal(%q: tensor<1x8x?x64xf32>, %k: tensor<1x2x?x64xf32>,
                  %v: tensor<1x2x?x64xf32>) -> tensor<1x8x?x64xf32> {
  %o = alibi.attention %q, %k, %v {mask = #rotor.mask<causal = true>}
      : tensor<1x8x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
  return %o : tensor<1x8x?x64xf32>
}

// CHECK-LABEL: func.func @all_attributes
// CHECK: alibi.attention
// CHECK-SAME: mask = #rotor.mask<causal = true, window_left = 4>
// CHECK-SAME: max_bias = 4.000000e+00 : f64
// CHECK-SAME: scale = 1.250000e-01 : f64
// CHECK-SAME: slopes = array<f64: 5.000000e-01, 2.500000e-01, 0.000000e+00>
// CHECK-SAME: : tensor<2x3x7x16xbf16>, tensor<2x3x9x16xbf16>, tensor<2x3x9x24xbf16>
func.func @all_attributes(%q: tensor<2x3x7x16xbf16>, %k: tensor<2x3x9x16xbf16>,
                          %v: tensor<2x3x9x24xbf16>) -> tensor<2x3x7x24xbf16> {
  %o = alibi.attention %q, %k, %v {
      mask = #rotor.mask<causal = true, window_left = 4>, max_bias = 4.0 : f64,
      scale = 0.125 : f64, slopes = array<f64: 0.5, 0.25, 0.0>}
      : tensor<2x3x7x16xbf16>, tensor<2x3x9x16xbf16>, tensor<2x3x9x24xbf16>
  return %o : tensor<2x3x7x24xbf16>
}

// The plugin's op and rotor's ops live in one module.
// CHECK-LABEL: func.func @with_rotor_ops
// CHECK: %[[A:.*]] = alibi.attention
// CHECK: rotor.add %[[A]], %{{.*}} : tensor<1x4x5x8xf64>, tensor<1x4x5x8xf64>
func.func @with_rotor_ops(%q: tensor<1x4x5x8xf64>, %k: tensor<1x4x5x8xf64>,
                          %v: tensor<1x4x5x8xf64>) -> tensor<1x4x5x8xf64> {
  %a = alibi.attention %q, %k, %v
      : tensor<1x4x5x8xf64>, tensor<1x4x5x8xf64>, tensor<1x4x5x8xf64>
  %r = rotor.add %a, %q : tensor<1x4x5x8xf64>, tensor<1x4x5x8xf64>
  return %r : tensor<1x4x5x8xf64>
}

// The backward op (what rotor-autodiff emits for alibi.attention).
// CHECK-LABEL: func.func @attention_grad
// CHECK: %{{.*}}, %{{.*}}, %{{.*}} = alibi.attention_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {mask = #rotor.mask<causal = true>, slopes = array<f64: 5.000000e-01, 2.500000e-01, 1.250000e-01, 0.000000e+00>} : tensor<1x4x?x16xbf16>, tensor<1x2x?x16xbf16>, tensor<1x2x?x24xbf16>, tensor<1x4x?x24xbf16>
func.func @attention_grad(%q: tensor<1x4x?x16xbf16>, %k: tensor<1x2x?x16xbf16>,
                          %v: tensor<1x2x?x24xbf16>, %do: tensor<1x4x?x24xbf16>)
    -> (tensor<1x4x?x16xbf16>, tensor<1x2x?x16xbf16>, tensor<1x2x?x24xbf16>) {
  %dq, %dk, %dv = alibi.attention_grad %q, %k, %v, %do {
      mask = #rotor.mask<causal = true>, slopes = array<f64: 0.5, 0.25, 0.125, 0.0>}
      : tensor<1x4x?x16xbf16>, tensor<1x2x?x16xbf16>, tensor<1x2x?x24xbf16>,
        tensor<1x4x?x24xbf16>
  return %dq, %dk, %dv : tensor<1x4x?x16xbf16>, tensor<1x2x?x16xbf16>, tensor<1x2x?x24xbf16>
}
