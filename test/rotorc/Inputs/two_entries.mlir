func.func @forward(%x: tensor<?x64xf32> {rotor.name = "x"}, %s: tensor<64xf32> {rotor.name = "scale"}) -> tensor<?x64xbf16> {
  %0 = rotor.mul %x, %s : tensor<?x64xf32>, tensor<64xf32>
  %1 = arith.truncf %0 : tensor<?x64xf32> to tensor<?x64xbf16>
  return %1 : tensor<?x64xbf16>
}
func.func @loss(%l: tensor<?x10xf32>, %y: tensor<?xi64>) -> tensor<f32> {
  %0 = rotor.cross_entropy %l, %y : tensor<?x10xf32>, tensor<?xi64>
  return %0 : tensor<f32>
}
