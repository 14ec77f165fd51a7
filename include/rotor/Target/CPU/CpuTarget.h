//===- CpuTarget.h - Compiling rotor modules to CPU artifacts ----*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_TARGET_CPU_CPUTARGET_H
#define ROTOR_TARGET_CPU_CPUTARGET_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/Timing.h"
#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace mlir::rotor {

/// The stages of the CPU pipeline, in order; `-emit=` stops after one.
enum class CpuStage {
  Rotor,  ///< after parsing and verification
  Opt,    ///< after rotor-level optimization
  Linalg, ///< after lowering rotor to linalg/scf/vector on tensors
  Llvm,   ///< the LLVM dialect module
};

struct CpuPipelineOptions {
  int64_t attentionBlockQ = 32;
  int64_t attentionBlockK = 64;
  /// Run the outer loops of the kernels on OpenMP threads (all cores, or
  /// OMP_NUM_THREADS at run time).
  bool parallel = true;
  /// Run the rotor-level fusion passes (rotor-fuse-linear and, with their
  /// own switches below, the attention fusions).
  bool fuse = true;
  /// With `fuse`: rotor-fuse-attention-rope (rope of q and k into the
  /// attention kernel); `fuseKeyRope` includes the keys, which the CPU
  /// kernel rotates once per query tile that visits them (off by default:
  /// at long sequences the recomputation costs what the traffic saves).
  bool fuseAttentionRope = true;
  bool fuseKeyRope = false;
  /// With `fuse`: rotor-fuse-attention-rotations (Givens chain and rotation
  /// matrix of q into the attention kernel).
  bool fuseAttentionRotations = true;
  /// Simplify attention masks for static lengths (rotor-specialize-masks).
  bool specializeMasks = true;
  /// Dilated-window attention as dense windows over the interleaved
  /// subsequences (rotor-dilation-relayout).
  bool dilationRelayout = true;
  /// Pack the query heads of a key/value group into one attention tile when
  /// a head has fewer queries than a tile (rotor-pack-gqa-heads).
  bool packGqaHeads = true;
  /// Apply the keys' Givens chains and rotations to the queries
  /// (rotor-move-key-rotations).
  bool moveKeyRotations = true;
  /// Compose consecutive Givens chains and rotation matrices of tensors with
  /// many rows into one matrix (rotor-compose-rotations).
  bool composeRotations = true;
  /// Print what the fusion passes fused and the traffic saved.
  bool fusionReport = false;
};

/// Adds the passes that take a module from stage `from` (exclusive) to stage
/// `to` (inclusive).
void buildCpuPipeline(OpPassManager &pm, CpuStage from, CpuStage to,
                      const CpuPipelineOptions &options);

/// One argument or result of an entry point, as the manifest lists it.
struct TensorSignature {
  std::string name;
  std::string dtype;          ///< f32, f64, bf16, f16, i32 or i64
  std::vector<int64_t> shape; ///< -1 for a dynamic dimension
};

struct EntrySignature {
  std::string name;
  std::vector<TensorSignature> inputs;
  std::vector<TensorSignature> outputs;
};

/// The entry points of a module (its public functions) with their tensor
/// signatures, read before lowering. Emits a diagnostic and fails on a
/// signature the artifact ABI cannot express.
FailureOr<std::vector<EntrySignature>> collectEntrySignatures(ModuleOp module);

/// The artifact spelling of an element type (f32, f64, bf16, f16, i32, i64),
/// or "" for any other type.
std::string artifactDTypeName(Type t);

/// Translates an LLVM-dialect module to native code for the host CPU and
/// links it into the shared object `soPath`. `progress` is told of each
/// step, which is timed as a child of `timing` (translation, LLVM
/// optimization, native code generation, linking). Native code is generated
/// on `codegenThreads` threads (0: one per core, at most 4), each compiling
/// a part of the module's functions.
llvm::Error emitSharedObject(ModuleOp module, llvm::StringRef soPath,
                             llvm::function_ref<void(llvm::StringRef)> progress,
                             TimingScope &timing, unsigned codegenThreads = 0);

/// Translates an LLVM-dialect module to optimized LLVM IR text.
llvm::Error emitLlvmIr(ModuleOp module, llvm::raw_ostream &os);

/// Writes `manifest.json` for `entries` into `dir`, naming `library` and,
/// when not empty, the `weights` file (a safetensors file inside the artifact
/// from which the runtime binds entry inputs by name).
llvm::Error writeManifest(llvm::StringRef dir, llvm::StringRef library,
                          const std::vector<EntrySignature> &entries,
                          llvm::StringRef weights = "",
                          llvm::StringRef target = "cpu");

} // namespace mlir::rotor

#endif // ROTOR_TARGET_CPU_CPUTARGET_H
