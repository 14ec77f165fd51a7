// RUN: rotorc %s --target=cuda -emit=cuda 2>&1 | FileCheck %s
// RUN: rotorc %s --target=cuda -emit=cuda 2>&1 | FileCheck %s --check-prefix=PLAN

// A decoding step over static caches: cache_write writes the new rows into
// the cache's own buffer (a plan view of the entry input, then CacheWrite),
// and attention reads query_start on the device, so one plan (and one
// captured CUDA graph) serves every cache position.

// CHECK: // rotor::cuda::CacheWrite<__nv_bfloat16, long long>
// CHECK: p.update = (const __nv_bfloat16 *)a.ptr[0];
// CHECK-NEXT: p.cache = (__nv_bfloat16 *)a.ptr[1];
// CHECK-NEXT: p.start = (const long long *)a.ptr[2];
// CHECK-NEXT: p.outer = a.dim[0];
// CHECK-NEXT: p.rows = a.dim[1];
// CHECK-NEXT: p.capacity = a.dim[2];
// CHECK-NEXT: p.inner = a.dim[3];
// CHECK: // rotor::cuda::AttentionSimple<__nv_bfloat16, 64, rotor::cuda::Mask<false, -1, -1, 1, 0, 0>, rotor::cuda::NoBias, false, false>
// CHECK: p.query_start = (const void *)a.ptr[4];
// CHECK-NEXT: p.query_start_is_i64 = true;
// An i32 start.
// CHECK: // rotor::cuda::CacheWrite<__nv_bfloat16, int>
// CHECK: p.start = (const int *)a.ptr[2];

// The k cache (input 3) is written in place: a view of it, then the kernel
// writing that view; the inputs written in place are listed.
// PLAN: "mutated_inputs": [
// PLAN-NEXT: 3,
// PLAN-NEXT: 4
// PLAN-NEXT: ],
// PLAN-NEXT: "name": "rotor_entry_step",
// PLAN: "dst": [[KV:[0-9]+]],
// PLAN-NEXT: "offset": {{[0-9]+}},
// PLAN-NEXT: "op": "view",
// PLAN-NEXT: "src": 3
// PLAN: "op": "launch",
// PLAN-NEXT: "ptrs": [
// PLAN-NEXT: 1,
// PLAN-NEXT: [[KV]],
// PLAN-NEXT: 5
// PLAN-NEXT: ],
// PLAN-NEXT: "writes": [
// PLAN-NEXT: [[KV]]
func.func @step(%q: tensor<1x4x1x64xbf16>, %k: tensor<1x2x1x64xbf16>, %v: tensor<1x2x1x64xbf16>, %kc: tensor<1x2x?x64xbf16>, %vc: tensor<1x2x?x64xbf16>, %p: tensor<1xi64>) -> (tensor<1x4x1x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>) {
  %kc2 = rotor.cache_write %k into %kc at %p {axis = 2 : i64} : tensor<1x2x1x64xbf16> into tensor<1x2x?x64xbf16>, tensor<1xi64>
  %vc2 = rotor.cache_write %v into %vc at %p {axis = 2 : i64} : tensor<1x2x1x64xbf16> into tensor<1x2x?x64xbf16>, tensor<1xi64>
  %o = rotor.attention %q, %kc2, %vc2 query_start(%p : tensor<1xi64>) {mask = #rotor.mask<causal = true>} : tensor<1x4x1x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>
  return %o, %kc2, %vc2 : tensor<1x4x1x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>
}

// A cache that is also returned as it was (a second use) cannot be written
// in place: it is copied first, and no input is listed as written.
// PLAN-NOT: mutated_inputs
// PLAN: "name": "rotor_entry_copy_first",
// PLAN-NOT: mutated_inputs
// PLAN: "op": "copy2d",
// PLAN: "src": 1,
// PLAN: "op": "launch",
func.func @copy_first(%k: tensor<1x2x3x64xbf16>, %kc: tensor<1x2x?x64xbf16>, %p: tensor<i32>) -> (tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>) {
  %kc2 = rotor.cache_write %k into %kc at %p {axis = 2 : i64} : tensor<1x2x3x64xbf16> into tensor<1x2x?x64xbf16>, tensor<i32>
  return %kc2, %kc : tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>
}
