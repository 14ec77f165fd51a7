//===- MemRefTest.cpp - Tests of memref descriptors and strided copies ----===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "MemRef.h"

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

using namespace rotor;

namespace {

/// Builds a descriptor over `base` by writing the raw words, as an entry
/// would.
MemRefDescriptor strided(void *base, int64_t offset, std::vector<int64_t> sizes,
                         std::vector<int64_t> strides) {
  MemRefDescriptor desc(sizes.size());
  int64_t *words = static_cast<int64_t *>(desc.address());
  std::memcpy(&words[0], &base, 8);
  std::memcpy(&words[1], &base, 8);
  words[2] = offset;
  for (size_t i = 0; i < sizes.size(); ++i) {
    words[3 + i] = sizes[i];
    words[3 + sizes.size() + i] = strides[i];
  }
  return desc;
}

std::vector<int> copyInts(const MemRefDescriptor &desc, size_t count) {
  std::vector<int> out(count, -1);
  copyStridedToDense(desc, sizeof(int), out.data());
  return out;
}

} // namespace

TEST(MemRef, DenseDescriptorLayout) {
  float data[24];
  int64_t shape[] = {2, 3, 4};
  MemRefDescriptor desc = MemRefDescriptor::dense(data, shape, 3);
  const int64_t *words = static_cast<const int64_t *>(desc.address());
  void *allocated, *aligned;
  std::memcpy(&allocated, &words[0], 8);
  std::memcpy(&aligned, &words[1], 8);
  EXPECT_EQ(allocated, data);
  EXPECT_EQ(aligned, data);
  EXPECT_EQ(words[2], 0);
  EXPECT_EQ(words[3], 2);
  EXPECT_EQ(words[4], 3);
  EXPECT_EQ(words[5], 4);
  EXPECT_EQ(words[6], 12);
  EXPECT_EQ(words[7], 4);
  EXPECT_EQ(words[8], 1);
  EXPECT_EQ(desc.rank(), 3u);
  EXPECT_EQ(desc.stride(0), 12);

  MemRefDescriptor scalar = MemRefDescriptor::dense(data, nullptr, 0);
  EXPECT_EQ(scalar.rank(), 0u);
  EXPECT_EQ(scalar.aligned(), data);
}

TEST(MemRef, CopiesDenseAndPaddedRows) {
  std::vector<int> base(40);
  std::iota(base.begin(), base.end(), 0);
  EXPECT_EQ(copyInts(strided(base.data(), 2, {2, 3}, {3, 1}), 6),
            (std::vector<int>{2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(copyInts(strided(base.data(), 1, {2, 3}, {8, 1}), 6),
            (std::vector<int>{1, 2, 3, 9, 10, 11}));
}

TEST(MemRef, CopiesTransposedNegativeAndBroadcastStrides) {
  std::vector<int> base(40);
  std::iota(base.begin(), base.end(), 0);
  // Column-major 2x3: element (i, j) at i + 2j.
  EXPECT_EQ(copyInts(strided(base.data(), 0, {2, 3}, {1, 2}), 6),
            (std::vector<int>{0, 2, 4, 1, 3, 5}));
  // Reversed.
  EXPECT_EQ(copyInts(strided(base.data(), 9, {4}, {-1}), 4),
            (std::vector<int>{9, 8, 7, 6}));
  // Broadcast rows (stride 0).
  EXPECT_EQ(copyInts(strided(base.data(), 5, {3, 2}, {0, 1}), 6),
            (std::vector<int>{5, 6, 5, 6, 5, 6}));
  // Rank 3 with mixed strides.
  EXPECT_EQ(copyInts(strided(base.data(), 0, {2, 2, 2}, {20, 1, 10}), 8),
            (std::vector<int>{0, 10, 1, 11, 20, 30, 21, 31}));
}

TEST(MemRef, CopiesRankZeroAndEmpty) {
  std::vector<int> base = {7, 8, 9};
  EXPECT_EQ(copyInts(strided(base.data(), 2, {}, {}), 1),
            (std::vector<int>{9}));
  // No elements: nothing is read, even through a null pointer.
  EXPECT_EQ(copyInts(strided(nullptr, 0, {3, 0}, {0, 1}), 1),
            (std::vector<int>{-1}));
  // Size-1 dimensions may carry any stride and still take the dense path.
  EXPECT_EQ(copyInts(strided(base.data(), 1, {1, 2}, {99, 1}), 2),
            (std::vector<int>{8, 9}));
}
