//===- MemRef.h - Memref descriptors of the entry-point ABI -----*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// A rank-R memref descriptor is 3 + 2R eight-byte words:
//
//   { void *allocated; void *aligned; int64_t offset;
//     int64_t sizes[R]; int64_t strides[R]; }
//
// (docs/artifact-abi.md). MemRefDescriptor owns the storage of one, and
// copyStridedToDense reads the elements an entry returned through one.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_SRC_MEMREF_H
#define ROTOR_SRC_MEMREF_H

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rotor {

static_assert(sizeof(void *) == 8, "the memref ABI assumes 64-bit pointers");

/// The storage of one memref descriptor.
class MemRefDescriptor {
public:
  /// A zeroed descriptor of rank `rank`, to be filled in by an entry.
  explicit MemRefDescriptor(size_t rank);

  /// A descriptor of the dense row-major buffer `data` of shape
  /// `shape[0..rank)` (allocated == aligned == data, offset 0).
  static MemRefDescriptor dense(void *data, const int64_t *shape, size_t rank);

  /// The address to pass in the entry's argument array.
  void *address() { return words.data(); }

  size_t rank() const { return descriptorRank; }
  void *allocated() const { return pointerAt(0); }
  void *aligned() const { return pointerAt(1); }
  int64_t offset() const { return words[2]; }
  int64_t size(size_t dim) const { return words[3 + dim]; }
  int64_t stride(size_t dim) const { return words[3 + descriptorRank + dim]; }

private:
  void *pointerAt(size_t index) const;
  void setPointer(size_t index, void *pointer);

  size_t descriptorRank;
  std::vector<int64_t> words;
};

/// Copies the elements of `source` (each `elementSize` bytes, read from
/// aligned + offset with the descriptor's sizes and strides, strides in
/// elements and possibly zero or negative) into `dest`, densely in row-major
/// order. The caller checked the sizes are non-negative and the aligned
/// pointer non-null if there are elements.
void copyStridedToDense(const MemRefDescriptor &source, size_t elementSize,
                        void *dest);

} // namespace rotor

#endif // ROTOR_SRC_MEMREF_H
