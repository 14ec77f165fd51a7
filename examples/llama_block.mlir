// A Llama-style decoder block in the rotor dialect: RMSNorm, grouped-query
// attention (8 query heads sharing 2 key/value heads) over a sliding window
// with rotary embeddings, a Givens rotation block on the queries and keys,
// and a SwiGLU feed-forward network. The sequence length is dynamic.
//
//   rotor-opt examples/llama_block.mlir --rotor-optimize
//   rotorc examples/llama_block.mlir -o llama_block.rotor
//   rotor-run llama_block.rotor --random-inputs --shape=x=1x37x256 \
//       --shape=positions=37

func.func @decoder_block(%x: tensor<1x?x256xf32> {rotor.name = "x"},
                         %pos: tensor<?xi64> {rotor.name = "positions"},
                         %attn_norm: tensor<256xf32> {rotor.name = "attn_norm"},
                         %wq: tensor<256x256xf32> {rotor.name = "wq"},
                         %wk: tensor<64x256xf32> {rotor.name = "wk"},
                         %wv: tensor<64x256xf32> {rotor.name = "wv"},
                         %wo: tensor<256x256xf32> {rotor.name = "wo"},
                         %ffn_norm: tensor<256xf32> {rotor.name = "ffn_norm"},
                         %w_gate: tensor<704x256xf32> {rotor.name = "w_gate"},
                         %w_up: tensor<704x256xf32> {rotor.name = "w_up"},
                         %w_down: tensor<256x704xf32> {rotor.name = "w_down"})
    -> (tensor<1x?x256xf32> {rotor.name = "y"}) {
  // Attention.
  %h = rotor.rms_norm %x, %attn_norm {epsilon = 1.0e-5 : f64} : tensor<1x?x256xf32>, tensor<256xf32>
  %q2 = rotor.linear %h, %wq : tensor<1x?x256xf32>, tensor<256x256xf32>
  %k2 = rotor.linear %h, %wk : tensor<1x?x256xf32>, tensor<64x256xf32>
  %v2 = rotor.linear %h, %wv : tensor<1x?x256xf32>, tensor<64x256xf32>
  %q = rotor.split_heads %q2 into 8 heads : tensor<1x?x256xf32>
  %k = rotor.split_heads %k2 into 2 heads : tensor<1x?x64xf32>
  %v = rotor.split_heads %v2 into 2 heads : tensor<1x?x64xf32>
  %qr = rotor.rope %q, %pos {base = 10000.0 : f64} : tensor<1x8x?x32xf32>, tensor<?xi64>
  %kr = rotor.rope %k, %pos {base = 10000.0 : f64} : tensor<1x2x?x32xf32>, tensor<?xi64>

  // A fixed Givens block: two chains that merge, one rotation with angle 0
  // that disappears.
  %theta0 = arith.constant dense<[0.25, 0.0]> : tensor<2xf32>
  %theta1 = arith.constant dense<[-0.5]> : tensor<1xf32>
  %qg0 = rotor.givens %qr, %theta0 pairs [(0, 16), (1, 17)] : tensor<1x8x?x32xf32>, tensor<2xf32>
  %qg = rotor.givens %qg0, %theta1 pairs [(2, 18)] : tensor<1x8x?x32xf32>, tensor<1xf32>
  %kg0 = rotor.givens %kr, %theta0 pairs [(0, 16), (1, 17)] : tensor<1x2x?x32xf32>, tensor<2xf32>
  %kg = rotor.givens %kg0, %theta1 pairs [(2, 18)] : tensor<1x2x?x32xf32>, tensor<1xf32>

  %o, %lse = rotor.attention %qg, %kg, %v return_lse {mask = #rotor.mask<causal = true, window_left = 127>} : tensor<1x8x?x32xf32>, tensor<1x2x?x32xf32>, tensor<1x2x?x32xf32>
  %om = rotor.merge_heads %o : tensor<1x8x?x32xf32>
  %attn = rotor.linear %om, %wo : tensor<1x?x256xf32>, tensor<256x256xf32>
  %r1 = rotor.add %x, %attn : tensor<1x?x256xf32>, tensor<1x?x256xf32>

  // Feed-forward.
  %h2 = rotor.rms_norm %r1, %ffn_norm {epsilon = 1.0e-5 : f64} : tensor<1x?x256xf32>, tensor<256xf32>
  %g = rotor.linear %h2, %w_gate : tensor<1x?x256xf32>, tensor<704x256xf32>
  %u = rotor.linear %h2, %w_up : tensor<1x?x256xf32>, tensor<704x256xf32>
  %a = rotor.swiglu %g, %u : tensor<1x?x704xf32>
  %d = rotor.linear %a, %w_down : tensor<1x?x704xf32>, tensor<256x704xf32>
  %r2 = rotor.add %r1, %d : tensor<1x?x256xf32>, tensor<1x?x256xf32>
  return %r2 : tensor<1x?x256xf32>
}
