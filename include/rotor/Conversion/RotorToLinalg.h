//===- RotorToLinalg.h - Lowering rotor ops to upstream dialects -*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Each op family has its own populate function and file under
// lib/Conversion/RotorToLinalg/; the convert-rotor-to-linalg pass applies
// them all.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_CONVERSION_ROTORTOLINALG_H
#define ROTOR_CONVERSION_ROTORTOLINALG_H

#include "mlir/IR/PatternMatch.h"

namespace mlir::rotor {

/// Tile sizes of the attention loop nest.
struct AttentionTiling {
  int64_t blockQ = 32;
  int64_t blockK = 64;
  /// Emit the loop over (batch, head, query tile) as scf.parallel (which the
  /// CPU pipeline runs on OpenMP threads) rather than sequential scf.for.
  bool parallel = false;
};

/// add, mul, relu, silu, gelu, swiglu.
void populateElementwiseToLinalgPatterns(RewritePatternSet &patterns);
/// rms_norm, layer_norm, l2_normalize, softmax.
void populateNormsToLinalgPatterns(RewritePatternSet &patterns);
/// linear, fused_linear, fused_gate_up, embedding, conv1d, split_heads,
/// merge_heads,
/// sinusoidal_embedding, cross_entropy. With `vectorMatmul`, linear layers
/// with static weights become the vectorized loop nest of MatmulKernel.h
/// instead of a linalg.generic contraction.
void populateLayersToLinalgPatterns(RewritePatternSet &patterns,
                                    bool vectorMatmul = true,
                                    bool parallel = false);
/// rope, givens, rotate (givens and rotate use the vectorized matmul when
/// `vectorMatmul` and the matrix is static).
void populateRotationsToLinalgPatterns(RewritePatternSet &patterns,
                                       bool vectorMatmul = true,
                                       bool parallel = false);
/// attention.
void populateAttentionToLoopsPatterns(RewritePatternSet &patterns,
                                      AttentionTiling tiling);

} // namespace mlir::rotor

#endif // ROTOR_CONVERSION_ROTORTOLINALG_H
