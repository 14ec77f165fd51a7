//===- Passes.td - Passes of Rotor's CPU target ------------*- tablegen -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_TARGET_CPU_PASSES_TD
#define ROTOR_TARGET_CPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def RotorPrepareEntries : Pass<"rotor-prepare-entries", "::mlir::ModuleOp"> {
  let summary = "Check entry-point signatures and request C interfaces";
  let description = [{
    Every public `func.func` of the module becomes an entry point of the
    compiled artifact. This pass checks that each takes and returns ranked
    tensors of a supported element type (f16, bf16, f32, f64, i32, i64), and
    marks it with `llvm.emit_c_interface`, so that the LLVM lowering emits
    `_mlir_ciface_NAME` taking pointers to memref descriptors, which
    `rotor-emit-entry-wrappers` then wraps. The `rotor.name` argument and
    result attributes (the names in the manifest) are dropped, and every
    argument is marked `bufferization.writable = false`: entries never write
    into their inputs (weights are shared, read-only mappings).

    Before:

    ```mlir
    func.func @forward(%x: tensor<?x64xf32>) -> tensor<?x64xf32>
    ```

    After:

    ```mlir
    func.func @forward(%x: tensor<?x64xf32>) -> tensor<?x64xf32>
        attributes {llvm.emit_c_interface}
    ```
  }];
}

def RotorEmitEntryWrappers : Pass<"rotor-emit-entry-wrappers",
                                  "::mlir::ModuleOp"> {
  let summary = "Emit the packed entry points of the artifact ABI";
  let description = [{
    For every `_mlir_ciface_NAME` function of an LLVM-dialect module, emits

    ```c
    void rotor_entry_NAME(void **args);
    ```

    where `args[i]` points to the descriptor of input `i` and
    `args[n_in + j]` to storage for the descriptor of result `j` (see
    docs/artifact-abi.md), and once per module `void rotor_free(void *)`,
    which releases result buffers with the allocator the code used.

    Before:

    ```mlir
    llvm.func @_mlir_ciface_forward(%res: !llvm.ptr, %x: !llvm.ptr)
    ```

    After (in addition):

    ```mlir
    llvm.func @rotor_entry_forward(%args: !llvm.ptr) {
      // load args[0]; alloca the result struct; call the ciface function;
      // store each result descriptor to args[1]
    }
    llvm.func @rotor_free(%p: !llvm.ptr) { llvm.call @free(%p) ... }
    ```
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def RotorExpandMemrefCopies : Pass<"rotor-expand-memref-copies"> {
  let summary = "Turn memref.copy into row-vector loops or linalg.copy";
  let description = [{
    `memref.copy` between buffers with non-identity layouts lowers to a call
    of the `memrefCopy` runtime function, which a standalone artifact does
    not have. This pass rewrites every copy into loops.

    Copies whose source and target both have contiguous innermost rows
    (unit innermost stride) of the same static size, and `linalg.copy` and
    `linalg.transpose` on buffers that keep the innermost dimension
    innermost, become `scf.for` loops over the rows that move each row with
    `vector.load`/`vector.store` of 16, 8, 4 or 2 elements (the largest
    that divides the row). `convert-linalg-to-loops` would copy them element
    by element, and LLVM would unroll those loops into long runs of scalar
    loads and stores that are slow to compile and to run. Other copies
    become `linalg.copy`, which `convert-linalg-to-loops` turns into plain
    loops.

    ```mlir
    memref.copy %a, %b : memref<?xf32, strided<[2]>> to memref<?xf32>
    // =>
    linalg.copy ins(%a : memref<?xf32, strided<[2]>>) outs(%b : memref<?xf32>)

    linalg.transpose ins(%a : memref<?x?x16xf32>) outs(%b : memref<?x?x16xf32>)
                     permutation = [1, 0, 2]
    // =>
    scf.for %i = %c0 to %d0 step %c1 {
      scf.for %j = %c0 to %d1 step %c1 {
        scf.for %k = %c0 to %c16 step %c16 {
          %row = vector.load %a[%j, %i, %k] : memref<?x?x16xf32>, vector<16xf32>
          vector.store %row, %b[%i, %j, %k] : memref<?x?x16xf32>, vector<16xf32>
        }
      }
    }
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::vector::VectorDialect"];
}

def RotorApproximateMath : Pass<"rotor-approximate-math"> {
  let summary = "Replace f32 math functions by vectorizable polynomials";
  let description = [{
    Rewrites `math.exp`, `math.log`, `math.tanh`, `math.erf` and the other
    f32 functions that upstream can approximate into polynomial arithmetic,
    so that vector operands stay vectors instead of becoming one libm call
    per lane. f64 functions are left to libm.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::vector::VectorDialect"];
}

#endif // ROTOR_TARGET_CPU_PASSES_TD
