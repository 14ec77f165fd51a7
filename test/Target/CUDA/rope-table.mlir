// RUN: rotorc %s -emit=cuda 2>&1 | FileCheck %s

// Rope's frequency table (RopeInvFreq) is computed once per entry for each
// (rotary dim, scaling, base, positions): q and k of a layer, and every layer
// of a model, read the same table. A different base or other positions get
// a table of their own.

// CHECK: using rotor_k0_t = rotor::cuda::RopeInvFreq<64, rotor::cuda::RopeScaling::none, long long, void>;
// CHECK: p.base = 5.0{{0*}}e+05;
// CHECK: using rotor_k1_t = rotor::cuda::Rope<__nv_bfloat16, long long, 64, 64, false, false>;
// CHECK: using rotor_k2_t = rotor::cuda::RopeInvFreq<64, rotor::cuda::RopeScaling::none, long long, void>;
// CHECK: p.base = 1.0{{0*}}e+04;
// CHECK-NOT: rotor::cuda::RopeInvFreq<

// The launches in order: the table, rope of q and rope of k on it (the
// table is freed after its last reader), the table of base 1e4 and its
// rope, then the table of the second positions and its rope.
// CHECK-LABEL: "name": "rotor_entry_layer"
// CHECK: "kernel": 0,
// CHECK-NEXT: "op": "launch",
// CHECK-NEXT: "ptrs": [
// CHECK-NEXT: [[TABLE:[0-9]+]],
// CHECK: "kernel": 1,
// CHECK: "kernel": 1,
// CHECK: "op": "free",
// CHECK-NEXT: "values": [
// CHECK-NEXT: [[TABLE]]
// CHECK: "kernel": 2,
// CHECK: "kernel": 1,
// CHECK: "kernel": 0,
// CHECK: "kernel": 1,
// CHECK-NOT: "kernel":
func.func @layer(%q: tensor<1x4x?x64xbf16>, %k: tensor<1x2x?x64xbf16>,
                 %p: tensor<?xi64>, %p2: tensor<?xi64>)
    -> (tensor<1x4x?x64xbf16>, tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>,
        tensor<1x2x?x64xbf16>) {
  %qr = rotor.rope %q, %p {base = 500000.0 : f64} : tensor<1x4x?x64xbf16>, tensor<?xi64>
  %kr = rotor.rope %k, %p {base = 500000.0 : f64} : tensor<1x2x?x64xbf16>, tensor<?xi64>
  %kb = rotor.rope %k, %p {base = 10000.0 : f64} : tensor<1x2x?x64xbf16>, tensor<?xi64>
  %kp = rotor.rope %k, %p2 {base = 500000.0 : f64} : tensor<1x2x?x64xbf16>, tensor<?xi64>
  return %qr, %kr, %kb, %kp : tensor<1x4x?x64xbf16>, tensor<1x2x?x64xbf16>,
                              tensor<1x2x?x64xbf16>, tensor<1x2x?x64xbf16>
}
