// RUN: rotorc %s -emit=opt --fuse-key-rope --rotor-fusion-report -o /dev/null 2>&1 | FileCheck %s --check-prefix=REPORT
// RUN: rotorc %s -emit=opt --fuse-key-rope | FileCheck %s --check-prefix=FUSED
// RUN: rotorc %s -emit=opt | FileCheck %s --check-prefix=QONLY
// RUN: rotorc %s -emit=opt --fusion=false --specialize-masks=false --dilation-relayout=false | FileCheck %s --check-prefix=OFF

// rotorc's switches for the attention fusions and specializations.

// REPORT-DAG: rotor-specialize-masks: #rotor.mask<causal = true, window_left = 100> => #rotor.mask<causal = true> at
// REPORT-DAG: rotor-dilation-relayout: dilation 2 into 2 dense subsequences at
// REPORT-DAG: rotor-fuse-attention-rope: rotor.rope of the queries into rotor.attention at {{.*}}: saves 8192 bytes
// REPORT-DAG: rotor-fuse-attention-rope: rotor.rope of the keys into rotor.attention at {{.*}}: saves 4096 bytes

// FUSED-LABEL: func.func @rope_window
// FUSED-NOT: rotor.rope
// FUSED: rotor.attention %arg0, %arg1, %arg2 rope_q(%arg3 : tensor<16xi64>) rope_k(%arg3 : tensor<16xi64>) {mask = #rotor.mask<causal = true>, rope_base = 1.000000e+04 : f64}
// FUSED-LABEL: func.func @dilated
// FUSED: linalg.transpose
// FUSED: rotor.attention {{.*}} {mask = #rotor.mask<causal = true, window_left = 3>} : tensor<1x8x8x16xf32>

// QONLY-LABEL: func.func @rope_window
// QONLY: %[[KR:.*]] = rotor.rope %arg1
// QONLY: rotor.attention %arg0, %[[KR]], %arg2 rope_q(%arg3 : tensor<16xi64>) {

// OFF-LABEL: func.func @rope_window
// OFF: rotor.rope
// OFF: rotor.rope
// OFF: rotor.attention %{{.*}}, %{{.*}}, %arg2 {mask = #rotor.mask<causal = true, window_left = 100>}
// OFF-LABEL: func.func @dilated
// OFF-NOT: linalg.transpose
// OFF: dilation = 2
func.func @rope_window(%q: tensor<1x4x16x16xf32>, %k: tensor<1x2x16x16xf32>, %v: tensor<1x2x16x16xf32>, %pos: tensor<16xi64>) -> tensor<1x4x16x16xf32> {
  %qr = rotor.rope %q, %pos {base = 10000.0 : f64} : tensor<1x4x16x16xf32>, tensor<16xi64>
  %kr = rotor.rope %k, %pos {base = 10000.0 : f64} : tensor<1x2x16x16xf32>, tensor<16xi64>
  %o = rotor.attention %qr, %kr, %v {mask = #rotor.mask<causal = true, window_left = 100>} : tensor<1x4x16x16xf32>, tensor<1x2x16x16xf32>, tensor<1x2x16x16xf32>
  return %o : tensor<1x4x16x16xf32>
}

func.func @dilated(%q: tensor<1x4x16x16xf32>, %k: tensor<1x4x16x16xf32>) -> tensor<1x4x16x16xf32> {
  %o = rotor.attention %q, %k, %k {mask = #rotor.mask<causal = true, window_left = 3, dilation = 2>} : tensor<1x4x16x16xf32>, tensor<1x4x16x16xf32>, tensor<1x4x16x16xf32>
  return %o : tensor<1x4x16x16xf32>
}
