// RUN: rotorc %s -emit=cuda 2>&1 | FileCheck %s

// The backward ops of a training step on the CUDA target: library kernels
// for the row ops, cuBLAS for the weight cotangents, generated elementwise
// kernels for the activations.

// Kernels, in the order of the functions below.
// ignore_index is signed (I64Attr getters return uint64_t).
// CHECK: // rotor::cuda::CountLabels<long long>
// CHECK: p.ignore_index = -100LL;
// CHECK: // rotor::cuda::CrossEntropyGrad<__nv_bfloat16, long long, float>
// CHECK: p.grad_loss = (const float *)a.ptr[2];
// CHECK: p.count = (const float *)a.ptr[3];
// CHECK: // rotor::cuda::RmsNormGrad<float, float>
// CHECK: p.rstd = (float *)a.ptr[4];
// CHECK: p.eps = 1.00000000000000008e-05;
// CHECK: // rotor::cuda::RmsNormWeightGrad<float, float>
// An f32 table accumulates in place; a bf16 one through an f32 buffer.
// CHECK: // rotor::cuda::EmbeddingGrad<long long, float>
// CHECK-NOT: rotor::cuda::Convert<
// CHECK: // rotor::cuda::EmbeddingGrad<int, __nv_bfloat16>
// CHECK: // rotor::cuda::Convert<float, __nv_bfloat16>
// The linear products read W as it is (no Transpose2D before @transpose_returned).
// CHECK-NOT: Transpose2D
// CHECK: // rotor::cuda::Transpose2D<float>
// CHECK: // elementwise: x1 * (1 / (1 + exp(-x0))) * (1 + x0 * (1 - 1 / (1 + exp(-x0))))
// The backward of rope rotates by the opposite angle.
// CHECK: // rotor::cuda::Rope<float, long long, 64, 48, false, false>
// CHECK: p.transpose = true;
// CHECK: // rotor::cuda::AttentionBwdPre<__nv_bfloat16, 64, rotor::cuda::NoBias>
// CHECK: p.dq_acc = (float *)a.ptr[9];
// CHECK: p.softcap = 3.0{{0*}}e+01f;
// CHECK: // rotor::cuda::AttentionBwd{{(Simple)?}}<__nv_bfloat16, 64, rotor::cuda::Mask<true, 40, -1, 1, 0, 0>, rotor::cuda::NoBias, true>
// CHECK: // rotor::cuda::AttentionBwdConvert<__nv_bfloat16, 64>
// CHECK: // rotor::cuda::ColumnSum<float, float>
// CHECK-NOT: Transpose2D

// Plans.
// CHECK-LABEL: "name": "rotor_entry_ce_grad"
// CHECK-LABEL: "name": "rotor_entry_rms_grad"
// The weight reduction's grid is ceil(cols / tile).
// CHECK: "ceildiv"
// CHECK-LABEL: "name": "rotor_entry_emb_grad_f32"
// CHECK: "op": "fill"
// CHECK-LABEL: "name": "rotor_entry_emb_grad_bf16"
// CHECK: "op": "fill"
// dW = dyᵀ · x is one product with A transposed; x · (Wᵀ)ᵀ reads W untransposed,
// and the tensor.empty of the transpose's init is neither filled nor allocated.
// CHECK-LABEL: "name": "rotor_entry_linear_grads"
// CHECK-NOT: "op": "fill"
// CHECK: "op": "gemm"
// CHECK: "trans_a": true,
// CHECK-NEXT: "trans_b": false
// CHECK-NOT: "op": "fill"
// CHECK: "op": "gemm"
// CHECK: "trans_a": false,
// CHECK-NEXT: "trans_b": false
// A transpose with another use is materialized.
// CHECK-LABEL: "name": "rotor_entry_transpose_returned"
// CHECK-NOT: "op": "fill"
// CHECK: "op": "launch"
// CHECK-LABEL: "name": "rotor_entry_silu_grad"
// CHECK-LABEL: "name": "rotor_entry_rope_transpose"
// CHECK-LABEL: "name": "rotor_entry_attention_grad"
// CHECK-LABEL: "name": "rotor_entry_bias_grad"
// CHECK: "op": "fill"
// CHECK-NOT: "op": "fill"
// CHECK: "op": "launch"
// CHECK-LABEL: "name": "rotor_entry_fused_linear_transposed"
// CHECK: "op": "gemm"
// CHECK: "trans_a": false,
// CHECK-NEXT: "trans_b": false

func.func @ce_grad(%x: tensor<2x?x33xbf16>, %y: tensor<2x?xi64>, %g: tensor<f32>) -> tensor<2x?x33xbf16> {
  %d = rotor.cross_entropy_grad %x, %y, %g : tensor<2x?x33xbf16>, tensor<2x?xi64>, tensor<f32>
  return %d : tensor<2x?x33xbf16>
}

// The weight reduction's grid is ceil(cols / tile): no grid-stride.
func.func @rms_grad(%x: tensor<?x64xf32>, %w: tensor<64xf32>, %dy: tensor<?x64xf32>) -> (tensor<?x64xf32>, tensor<64xf32>) {
  %dx, %dw = rotor.rms_norm_grad %x, %w, %dy {epsilon = 1.0e-5 : f64} : tensor<?x64xf32>, tensor<64xf32>
  return %dx, %dw : tensor<?x64xf32>, tensor<64xf32>
}

// An f32 table accumulates in place; a bf16 one through an f32 buffer.
func.func @emb_grad_f32(%ids: tensor<2x?xi64>, %dy: tensor<2x?x48xf32>) -> tensor<50x48xf32> {
  %d = rotor.embedding_grad %ids, %dy : tensor<2x?xi64>, tensor<2x?x48xf32> -> tensor<50x48xf32>
  return %d : tensor<50x48xf32>
}

func.func @emb_grad_bf16(%ids: tensor<?xi32>, %dy: tensor<?x48xbf16>) -> tensor<50x48xbf16> {
  %d = rotor.embedding_grad %ids, %dy : tensor<?xi32>, tensor<?x48xbf16> -> tensor<50x48xbf16>
  return %d : tensor<50x48xbf16>
}

// dW = dyᵀ · x is one product with A transposed; x · (Wᵀ)ᵀ reads W as it is
// (the transpose is not materialized when only linear weights use it).
func.func @linear_grads(%dy: tensor<2x?x80xf32>, %x: tensor<2x?x96xf32>, %w: tensor<80x96xf32>) -> (tensor<80x96xf32>, tensor<2x?x96xf32>) {
  %dw = rotor.linear_weight_grad %dy, %x : tensor<2x?x80xf32>, tensor<2x?x96xf32>
  %e = tensor.empty() : tensor<96x80xf32>
  %wt = linalg.transpose ins(%w : tensor<80x96xf32>) outs(%e : tensor<96x80xf32>) permutation = [1, 0]
  %dx = rotor.linear %dy, %wt : tensor<2x?x80xf32>, tensor<96x80xf32>
  return %dw, %dx : tensor<80x96xf32>, tensor<2x?x96xf32>
}

// A transpose with another use is materialized.
func.func @transpose_returned(%w: tensor<80x96xf32>) -> tensor<96x80xf32> {
  %e = tensor.empty() : tensor<96x80xf32>
  %wt = linalg.transpose ins(%w : tensor<80x96xf32>) outs(%e : tensor<96x80xf32>) permutation = [1, 0]
  return %wt : tensor<96x80xf32>
}

func.func @silu_grad(%x: tensor<?x70xf32>, %dy: tensor<?x70xf32>) -> tensor<?x70xf32> {
  %d = rotor.activation_grad %x, %dy {activation = #rotor.activation<silu>} : tensor<?x70xf32>
  return %d : tensor<?x70xf32>
}

// The backward of rope rotates by the opposite angle.
func.func @rope_transpose(%x: tensor<2x3x?x64xf32>, %p: tensor<?xi64>) -> tensor<2x3x?x64xf32> {
  %y = rotor.rope %x, %p {base = 10000.0 : f64, rotary_dim = 48 : i64, transpose} : tensor<2x3x?x64xf32>, tensor<?xi64>
  return %y : tensor<2x3x?x64xf32>
}

// The attention backward: delta and the f32 dq accumulator, one block per
// (key tile, kv head, batch row), then dq rounded to bf16.
func.func @attention_grad(%q: tensor<1x8x?x64xbf16>, %k: tensor<1x2x?x64xbf16>, %v: tensor<1x2x?x64xbf16>, %o: tensor<1x8x?x64xbf16>, %lse: tensor<1x8x?xf32>, %do: tensor<1x8x?x64xbf16>) -> (tensor<1x8x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>) {
  %dq, %dk, %dv = rotor.attention_grad %q, %k, %v, %o, %lse, %do {mask = #rotor.mask<causal = true, window_left = 40>, softcap = 30.0 : f64}
      : tensor<1x8x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x8x?x64xbf16>, tensor<1x8x?xf32>
  return %dq, %dk, %dv : tensor<1x8x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>
}

// The cotangent of a broadcast bias (rotor-autodiff's linalg.generic sum
// over every dimension but the last, into a zero fill): one ColumnSum
// launch; the fill's tensor.empty needs no buffer of its own.
#rows = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#cols = affine_map<(d0, d1, d2) -> (d2)>
func.func @bias_grad(%dy: tensor<2x?x32xf32>) -> tensor<32xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<32xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<32xf32>) -> tensor<32xf32>
  %db = linalg.generic {indexing_maps = [#rows, #cols], iterator_types = ["reduction", "reduction", "parallel"]}
      ins(%dy : tensor<2x?x32xf32>) outs(%init : tensor<32xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %s = arith.addf %in, %acc : f32
    linalg.yield %s : f32
  } -> tensor<32xf32>
  return %db : tensor<32xf32>
}

// fused_linear over a transposed weight (the input cotangent plus a
// residual) reads W untransposed too.
func.func @fused_linear_transposed(%dy: tensor<2x?x80xf32>, %w: tensor<80x96xf32>, %r: tensor<2x?x96xf32>) -> tensor<2x?x96xf32> {
  %e = tensor.empty() : tensor<96x80xf32>
  %wt = linalg.transpose ins(%w : tensor<80x96xf32>) outs(%e : tensor<96x80xf32>) permutation = [1, 0]
  %dx = rotor.fused_linear %dy, %wt residual(%r : tensor<2x?x96xf32>) : tensor<2x?x80xf32>, tensor<96x80xf32>
  return %dx : tensor<2x?x96xf32>
}
