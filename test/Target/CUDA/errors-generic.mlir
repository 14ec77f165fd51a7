// RUN: not rotorc %s -emit=cuda 2>&1 | FileCheck %s --check-prefix=BODY
// RUN: sed 's/math.atan %a/math.exp %a/; s/#out = affine_map<(d0, d1) -> (d0)>/#out = affine_map<(d0, d1) -> (d1)>/' %s \
// RUN:   | not rotorc - -emit=cuda 2>&1 | FileCheck %s --check-prefix=MAP

// A linalg.generic the CUDA target cannot generate a kernel for is an error
// at the op naming what is not supported: an op of its body, or an output
// that two threads would write (a map that is not a permutation of the
// parallel loops).

// BODY: errors-generic.mlir:{{[0-9]+}}:{{[0-9]+}}: error: the CUDA target cannot generate a kernel for 'math.atan' in the body of a linalg.generic
// MAP: <stdin>:{{[0-9]+}}:{{[0-9]+}}: error: the CUDA target cannot generate a kernel for this linalg.generic: an output's indexing map is not a permutation of the parallel loops
#in = affine_map<(d0, d1) -> (d0, d1)>
#out = affine_map<(d0, d1) -> (d0)>
func.func @f(%x: tensor<?x8xf32>, %i: tensor<?xf32>) -> tensor<?xf32> {
  %r = linalg.generic {indexing_maps = [#in, #out], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<?x8xf32>) outs(%i : tensor<?xf32>) {
  ^bb0(%a: f32, %o: f32):
    %t = math.atan %a : f32
    %s = arith.addf %o, %t : f32
    linalg.yield %s : f32
  } -> tensor<?xf32>
  return %r : tensor<?xf32>
}
