// RUN: rotorc %s -emit=opt --rotor-fusion-report -o /dev/null 2>&1 | FileCheck %s --check-prefix=REPORT
// RUN: rotorc %s -emit=opt | FileCheck %s --check-prefix=FUSED
// RUN: rotorc %s -emit=opt --fusion=false | FileCheck %s --check-prefix=UNFUSED
// RUN: rotorc %s -emit=linalg | FileCheck %s --check-prefix=PARALLEL
// RUN: rotorc %s -emit=linalg --parallel=false | FileCheck %s --check-prefix=SEQUENTIAL
// RUN: rm -rf %t.par %t.seq
// RUN: rotorc -q %s -o %t.par && objdump -p %t.par/module.so | FileCheck %s --check-prefix=NEEDS-OMP
// RUN: rotorc -q %s --parallel=false -o %t.seq && objdump -p %t.seq/module.so | FileCheck %s --check-prefix=NO-OMP

// rotorc's fusion and threading switches.

// REPORT: rotor-fuse-linear: rotor.relu into rotor.linear at {{.*}}: saves 8320 bytes
// REPORT: rotor-fuse-linear: residual rotor.add into rotor.linear at {{.*}}: saves 8320 bytes

// FUSED: rotor.fused_linear {{.*}} residual
// FUSED-NOT: rotor.relu

// UNFUSED: rotor.linear
// UNFUSED: rotor.relu
// UNFUSED: rotor.add
// UNFUSED-NOT: rotor.fused_linear

// PARALLEL: scf.parallel
// PARALLEL: func.func private @__rotor_matmul_block
// SEQUENTIAL-NOT: scf.parallel

// Only artifacts with parallel loops depend on the OpenMP runtime.
// NEEDS-OMP: NEEDED {{.*}}libomp
// NO-OMP-NOT: libomp
func.func @f(%x: tensor<8x32xf32>, %w: tensor<130x32xf32>, %r: tensor<8x130xf32>) -> tensor<8x130xf32> {
  %0 = rotor.linear %x, %w : tensor<8x32xf32>, tensor<130x32xf32>
  %1 = rotor.relu %0 : tensor<8x130xf32>
  %2 = rotor.add %1, %r : tensor<8x130xf32>, tensor<8x130xf32>
  return %2 : tensor<8x130xf32>
}
