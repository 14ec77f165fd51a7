//===- MemRef.cpp - Memref descriptors of the entry-point ABI -------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "MemRef.h"

#include <cstring>

using namespace rotor;

MemRefDescriptor::MemRefDescriptor(size_t rank)
    : descriptorRank(rank), words(3 + 2 * rank, 0) {}

MemRefDescriptor MemRefDescriptor::dense(void *data, const int64_t *shape,
                                         size_t rank) {
  MemRefDescriptor desc(rank);
  desc.setPointer(0, data);
  desc.setPointer(1, data);
  int64_t stride = 1;
  for (size_t i = rank; i-- > 0;) {
    desc.words[3 + i] = shape[i];
    desc.words[3 + rank + i] = stride;
    stride *= shape[i];
  }
  return desc;
}

void *MemRefDescriptor::pointerAt(size_t index) const {
  uintptr_t bits;
  std::memcpy(&bits, &words[index], sizeof(bits));
  return reinterpret_cast<void *>(bits);
}

void MemRefDescriptor::setPointer(size_t index, void *pointer) {
  uintptr_t bits = reinterpret_cast<uintptr_t>(pointer);
  std::memcpy(&words[index], &bits, sizeof(bits));
}

void rotor::copyStridedToDense(const MemRefDescriptor &source,
                               size_t elementSize, void *dest) {
  size_t rank = source.rank();
  int64_t numel = 1;
  for (size_t i = 0; i < rank; ++i)
    numel *= source.size(i);
  if (numel == 0)
    return;
  const char *base = static_cast<const char *>(source.aligned());
  char *out = static_cast<char *>(dest);
  auto elementAt = [&](int64_t elementOffset) {
    return base + elementOffset * static_cast<int64_t>(elementSize);
  };
  if (rank == 0) {
    std::memcpy(out, elementAt(source.offset()), elementSize);
    return;
  }

  // Fast path: the memref is already dense row-major (size-1 dimensions may
  // have any stride).
  bool dense = true;
  int64_t expected = 1;
  for (size_t i = rank; i-- > 0;) {
    if (source.size(i) != 1 && source.stride(i) != expected)
      dense = false;
    expected *= source.size(i);
  }
  if (dense) {
    std::memcpy(out, elementAt(source.offset()),
                static_cast<size_t>(numel) * elementSize);
    return;
  }

  // Walk the outer dimensions with an index counter; copy rows of the
  // innermost dimension, with one memcpy when they are contiguous.
  size_t inner = rank - 1;
  int64_t rowLength = source.size(inner);
  int64_t rowStride = source.stride(inner);
  size_t rowBytes = static_cast<size_t>(rowLength) * elementSize;
  std::vector<int64_t> index(rank, 0);
  int64_t rows = numel / rowLength;
  for (int64_t row = 0; row < rows; ++row) {
    int64_t start = source.offset();
    for (size_t i = 0; i < inner; ++i)
      start += index[i] * source.stride(i);
    if (rowStride == 1) {
      std::memcpy(out, elementAt(start), rowBytes);
      out += rowBytes;
    } else {
      for (int64_t k = 0; k < rowLength; ++k) {
        std::memcpy(out, elementAt(start + k * rowStride), elementSize);
        out += elementSize;
      }
    }
    // Advance the outer index (row-major order).
    for (size_t i = inner; i-- > 0;) {
      if (++index[i] < source.size(i))
        break;
      index[i] = 0;
    }
  }
}
