// RUN: rotorc %s -emit=cuda 2>&1 | FileCheck %s

// Relative bias tables of a bf16/f16 model: the attention kernels read an f32
// table, so a 16-bit one is widened on the device first (Convert<T, float>
// into a scratch buffer), and the backward's table cotangent accumulates in
// an f32 buffer rounded to the table's type after the kernel. An f32 table
// is read and accumulated in place.

// Kernels, in the order of the functions below.
// CHECK: // rotor::cuda::Convert<__nv_bfloat16, float>
// CHECK: // rotor::cuda::AttentionFwd<__nv_bfloat16, 64, rotor::cuda::Mask<true, -1, -1, 1, 0, 0>, rotor::cuda::T5Bias<16, 128>, false, false>
// CHECK: p.bias = (const float *)
// CHECK: // rotor::cuda::Convert<__half, float>
// CHECK: // rotor::cuda::AttentionBwdPre<__half, 64, rotor::cuda::T5Bias<24, 40>>
// CHECK: p.dbias = (float *)
// CHECK: // rotor::cuda::AttentionBwd<__half, 64, rotor::cuda::Mask<false, -1, -1, 1, 0, 0>, rotor::cuda::T5Bias<24, 40>, false>
// CHECK: // rotor::cuda::AttentionBwdConvert<__half, 64>
// CHECK: // rotor::cuda::Convert<float, __half>
// CHECK-NOT: // rotor::cuda::Convert<
// CHECK: // rotor::cuda::AttentionBwdPre<__nv_bfloat16, 64, rotor::cuda::T5Bias<24, 40>>
// CHECK-NOT: // rotor::cuda::Convert<
// CHECK: "entries"

// The plans: the widened table is what the attention kernel reads (value 5,
// f32), the f16 table's cotangent (value 12) is written by the last launch
// from the f32 accumulator (value 13).
// CHECK-LABEL: "name": "rotor_entry_fwd_bf16_table"
// CHECK: "kernel": 0,
// CHECK-NEXT: "op": "launch",
// CHECK-NEXT: "ptrs": [
// CHECK-NEXT: 3,
// CHECK-NEXT: 5
// CHECK: "kernel": 1,
// CHECK-NEXT: "op": "launch",
// CHECK-NEXT: "ptrs": [
// CHECK-NEXT: 0,
// CHECK-NEXT: 1,
// CHECK-NEXT: 2,
// CHECK-NEXT: 4,
// CHECK-NEXT: 5
// CHECK: "f32",
// CHECK-LABEL: "name": "rotor_entry_grad_f16_table"
// CHECK: "outputs": [
// CHECK-NEXT: 6,
// CHECK-NEXT: 7,
// CHECK-NEXT: 8,
// CHECK-NEXT: 12
// CHECK: "kernel": 6,
// CHECK-NEXT: "op": "launch",
// CHECK-NEXT: "ptrs": [
// CHECK-NEXT: 13,
// CHECK-NEXT: 12
// CHECK-LABEL: "name": "rotor_entry_grad_f32_table"
func.func @fwd_bf16_table(%q: tensor<1x8x?x64xbf16>, %k: tensor<1x2x?x64xbf16>, %v: tensor<1x2x?x64xbf16>, %t: tensor<8x16xbf16>) -> tensor<1x8x?x64xbf16> {
  %o = rotor.attention %q, %k, %v bias(%t : tensor<8x16xbf16>) {mask = #rotor.mask<causal = true>}
      : tensor<1x8x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>
  return %o : tensor<1x8x?x64xbf16>
}

func.func @grad_f16_table(%q: tensor<1x4x?x64xf16>, %k: tensor<1x4x?x64xf16>, %v: tensor<1x4x?x64xf16>, %o: tensor<1x4x?x64xf16>, %lse: tensor<1x4x?xf32>, %t: tensor<4x24xf16>) -> (tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16>, tensor<4x24xf16>) {
  %dq, %dk, %dv, %db = rotor.attention_grad %q, %k, %v, %o, %lse, %o bias(%t : tensor<4x24xf16>) {bias_max_distance = 40 : i64}
      : tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16>, tensor<1x4x?xf32> -> tensor<4x24xf16>
  return %dq, %dk, %dv, %db : tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16>, tensor<1x4x?x64xf16>, tensor<4x24xf16>
}

func.func @grad_f32_table(%q: tensor<1x4x?x64xbf16>, %k: tensor<1x4x?x64xbf16>, %v: tensor<1x4x?x64xbf16>, %o: tensor<1x4x?x64xbf16>, %lse: tensor<1x4x?xf32>, %t: tensor<4x24xf32>) -> tensor<4x24xf32> {
  %dq, %dk, %dv, %db = rotor.attention_grad %q, %k, %v, %o, %lse, %o bias(%t : tensor<4x24xf32>) {bias_max_distance = 40 : i64}
      : tensor<1x4x?x64xbf16>, tensor<1x4x?x64xbf16>, tensor<1x4x?x64xbf16>, tensor<1x4x?x64xbf16>, tensor<1x4x?xf32> -> tensor<4x24xf32>
  return %db : tensor<4x24xf32>
}
