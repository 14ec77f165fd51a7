// RUN: rotor-opt %load_alibi %s \
// RUN:   --pass-pipeline='builtin.module(rotor-autodiff{function=f seed-args=true no-grad=k,v})' \
// RUN:   | FileCheck %s --check-prefix=NOGRAD

// Only q is differentiated: the rule still returns all three, the pass
// keeps the query's.
// NOGRAD-LABEL: func.func @f_grad
// NOGRAD-SAME: -> (tensor<1x8x?x48xf32> {rotor.name = "result0"}, tensor<1x8x?x64xf32> {rotor.name = "grad.q"})
// NOGRAD: %[[DQ:.*]], %{{.*}}, %{{.*}} = alibi.attention_grad
// NOGRAD: return %{{.*}}, %[[DQ]] :
func.func @f(%q: tensor<1x8x?x64xf32> {rotor.name = "q"},
             %k: tensor<1x2x?x64xf32> {rotor.name = "k"},
             %v: tensor<1x2x?x48xf32> {rotor.name = "v"}) -> tensor<1x8x?x48xf32> {
  %o = alibi.attention %q, %k, %v {mask = #rotor.mask<causal = true, window_left = 7>,
                                   max_bias = 4.0 : f64, scale = 0.125 : f64}
      : tensor<1x8x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x48xf32>
  return %o : tensor<1x8x?x48xf32>
}

