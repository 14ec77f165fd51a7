// RUN: not rotorc %s -emit=cuda 2>&1 | FileCheck %s

// Ops the CUDA target cannot run are errors at their location, naming the
// rule.

// CHECK: error: the CUDA target has no f64 attention kernel; use f32, bf16 or f16
func.func @f64_attention(%q: tensor<1x2x?x16xf64>) -> tensor<1x2x?x16xf64> {
  %o = rotor.attention %q, %q, %q : tensor<1x2x?x16xf64>, tensor<1x2x?x16xf64>, tensor<1x2x?x16xf64>
  return %o : tensor<1x2x?x16xf64>
}
