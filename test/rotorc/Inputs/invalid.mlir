// Used by errors.test.
func.func @f(%q: tensor<1x32x8x16xf32>, %k: tensor<1x6x8x16xf32>) -> tensor<1x32x8x16xf32> {
  %0 = rotor.attention %q, %k, %k : tensor<1x32x8x16xf32>, tensor<1x6x8x16xf32>, tensor<1x6x8x16xf32>
  return %0 : tensor<1x32x8x16xf32>
}
