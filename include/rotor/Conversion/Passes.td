//===- Passes.td - Rotor conversion passes -----------------*- tablegen -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_CONVERSION_PASSES_TD
#define ROTOR_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertRotorToLinalg : Pass<"convert-rotor-to-linalg", "::mlir::ModuleOp"> {
  let summary = "Lower rotor ops to linalg, tensor, arith, math, scf and vector";
  let description = [{
    Lowers every rotor op to upstream dialects on tensors, ready for one-shot
    bufferization:

    * elementwise ops, activations, norms, softmax, linear layers, embeddings,
      convolutions and losses become `linalg.generic` ops (reductions and
      contractions included), with `f16`/`bf16` data widened to `f32` inside
      the bodies;
    * `rotor.linear`, `rotor.rotate` and `rotor.givens` with static weights
      become a vectorized loop nest on buffers (the weights repacked per
      block of 64 output features, 4 rows of accumulators in vector
      registers, broadcast-FMA along the reduction); with
      `vector-matmul=false` or dynamic weights, `linalg.generic`
      contractions;
    * `rotor.rope` computes a cos/sin table with the angles formed in f64,
      then rotates the pairs in one `linalg.generic`; `rotor.givens` builds
      its rotation matrix from the angle operand;
    * `rotor.attention` becomes a tiled, online-softmax (flash-style) loop nest
      over query tiles and the key tiles the mask allows (window, dilation,
      chunk, global tokens, computed by `rotor/Analysis/MaskTiling.h`),
      with scratch of a tile's size: no S×S score matrix and no S×S mask;
      a fused rope (`rope_q`, `rope_k`) rotates each query row as it is
      loaded into the query tile and each key tile into a BK×D scratch
      tile, from cos/sin tables of the positions (angles in f64); a fused
      query rotation (`givens_q`, `rotate_q`) then rotates pairs of rows of
      the (unscaled) transposed query tile and multiplies it by the matrix
      into a second tile before the scaling.

    Before:

    ```mlir
    %y = rotor.relu %x : tensor<4x?xf32>
    ```

    After:

    ```mlir
    %c1 = arith.constant 1 : index
    %d1 = tensor.dim %x, %c1 : tensor<4x?xf32>
    %e = tensor.empty(%d1) : tensor<4x?xf32>
    %y = linalg.generic {...} ins(%x : tensor<4x?xf32>) outs(%e : tensor<4x?xf32>) {
    ^bb0(%in: f32, %out: f32):
      %zero = arith.constant 0.0 : f32
      %m = arith.maximumf %in, %zero : f32
      linalg.yield %m : f32
    } -> tensor<4x?xf32>
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect",
  ];
  let options = [
    Option<"attentionBlockQ", "attention-block-q", "int64_t", /*default=*/"32",
           "Query rows per attention tile">,
    Option<"attentionBlockK", "attention-block-k", "int64_t", /*default=*/"64",
           "Keys per attention tile">,
    Option<"parallelLoops", "parallel-loops", "bool", /*default=*/"false",
           "Emit the outer loops of the attention and matmul kernels as "
           "scf.parallel (run on threads by the CPU pipeline)">,
    Option<"vectorMatmul", "vector-matmul", "bool", /*default=*/"true",
           "Lower linear, rotate and givens with static weights to the "
           "vectorized matmul loop nest instead of linalg contractions">,
  ];
}

#endif // ROTOR_CONVERSION_PASSES_TD
