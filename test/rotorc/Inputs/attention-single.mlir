func.func @f(%q: tensor<1x?x?x64xf32>, %k: tensor<1x?x?x64xf32>, %v: tensor<1x?x?x64xf32>) -> tensor<1x?x?x64xf32> {
  %o = rotor.attention %q, %k, %v {mask = #rotor.mask<causal = true>} : tensor<1x?x?x64xf32>, tensor<1x?x?x64xf32>, tensor<1x?x?x64xf32>
  return %o : tensor<1x?x?x64xf32>
}
