//===- Safetensors.h - Checking a weights file against a model --*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// A .safetensors file starts with an 8-byte little-endian header length N,
// then N bytes of JSON mapping each tensor name to {"dtype", "shape",
// "data_offsets": [begin, end]} (offsets relative to the end of the header),
// plus an optional "__metadata__" object; the tensor data follows.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_FRONTEND_SAFETENSORS_H
#define ROTOR_FRONTEND_SAFETENSORS_H

#include "rotor/Frontend/ModelBuilder.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

namespace mlir::rotor {

/// Checks that the safetensors file at `path` holds exactly `weights`: every
/// one present with its shape and dtype, no other tensor, and a well-formed
/// header (valid JSON, no tensor named twice, known dtypes, no unknown
/// fields) whose data ranges lie inside the file, match the shapes and tile
/// the data section with no overlap and no gap. The error lists every
/// problem, one per line, naming the tensor and the expected and actual
/// shapes or dtypes.
llvm::Error checkSafetensorsWeights(llvm::StringRef path,
                                    llvm::ArrayRef<WeightSpec> weights);

/// The same checks on a file image held in memory (the whole file), named
/// `name` in messages; for tests and the fuzzer.
llvm::Error checkSafetensorsImage(llvm::StringRef name, llvm::StringRef image,
                                  llvm::ArrayRef<WeightSpec> weights);

} // namespace mlir::rotor

#endif // ROTOR_FRONTEND_SAFETENSORS_H
