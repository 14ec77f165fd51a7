//===- copy_plan_check.cu - Tile copies and descriptors on the host -*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// What the attention kernels' tile loads (AttentionFwdWgmma::loadTile,
// detail::loadRowsAsync) and wgmma descriptors rely on, run on the host with
// the kernel headers (copy-plan.test: nvcc, no GPU):
//  * detail::CopyRounds: for every lane count, tile height and row width the
//    kernels use, the lanes' rounds copy every (row, chunk) of the tile once;
//  * detail::swizzle128Offset: it is the hardware's 128-byte swizzle, the
//    16-byte chunks of a tile land on distinct
//    16-byte slots inside the tile, each 8-row x 128-byte atom holds exactly
//    its own rows' chunks, and rows a multiple of 8 apart differ by a
//    constant (what loadTile's constant-step addresses assume);
//  * wgmma::descAdd moves a descriptor as desc128B of the moved address does,
//    for every 16-byte address and offset inside 227 KiB of shared memory.
// Prints one line per failure (at most 20) and a summary; exit status 1 on
// any failure.
//
//===----------------------------------------------------------------------===//

#include "rotor/cuda/attention.cuh"

#include <cstdio>
#include <string>
#include <vector>

using namespace rotor::cuda;

namespace {

int failures = 0;
int checked = 0;

void fail(const std::string &what, long long a, long long b, long long c = 0) {
  if (++failures <= 20)
    std::printf("FAIL %s (%lld, %lld, %lld)\n", what.c_str(), a, b, c);
}

/// Every (row, chunk) of a kRows x kChunks tile copied once by the rounds.
template <int kLanes, int kRows, int kChunks> void checkRounds() {
  using R = detail::CopyRounds<kLanes, kRows, kChunks>;
  static_assert(R::kWhole, "a configuration copied in whole rounds");
  std::string name = "rounds " + std::to_string(kLanes) + " lanes, " + std::to_string(kRows) +
                     " x " + std::to_string(kChunks);
  std::vector<int> seen(kRows * kChunks, 0);
  for (int lane = 0; lane < kLanes; ++lane)
    for (int i = 0; i < R::kRounds; ++i) {
      int r = R::row0(lane) + i * R::kRowStep, c = R::chunk(lane);
      if (r < 0 || r >= kRows || c < 0 || c >= kChunks)
        fail(name + ": copy outside the tile", lane, i, r);
      else
        ++seen[r * kChunks + c];
    }
  for (int k = 0; k < kRows * kChunks; ++k)
    if (seen[k] != 1)
      fail(name + ": chunk not copied exactly once", k / kChunks, k % kChunks, seen[k]);
  ++checked;
}

/// swizzle128Offset on a tile of kRows rows of D 2-byte elements.
template <int kRows, int D> void checkSwizzle() {
  std::string name = "swizzle " + std::to_string(kRows) + " x " + std::to_string(D);
  const int bytes = kRows * D * 2;
  std::vector<int> slot(bytes / 16, 0);
  for (int r = 0; r < kRows; ++r)
    for (int col = 0; col < D; col += 8) {
      int off = detail::swizzle128Offset<kRows>(r, col);
      if (off % 16 != 0 || off < 0 || off >= bytes) {
        fail(name + ": chunk outside the tile or unaligned", r, col, off);
        continue;
      }
      ++slot[off / 16];
      // The hardware's 128-byte swizzle (PTX ISA, shared memory matrix
      // layouts; CUTLASS's Swizzle<3, 4, 3>): in the unswizzled byte
      // address, bits 4..6 (the 16-byte chunk) are XORed with bits 7..9
      // (the row within an 8-row, 1024-byte atom).
      int plain = (col / 64) * (kRows * 128) + r * 128 + (col % 64) * 2;
      if (off != (plain ^ (((plain >> 7) & 7) << 4)))
        fail(name + ": not the hardware's 128-byte swizzle", r, col, off);
      // The 1024-byte atom of rows r - r % 8 .. + 7 of this 64-column block.
      int atom = (col / 64) * (kRows * 128) + (r / 8) * 1024;
      if (off < atom || off >= atom + 1024)
        fail(name + ": chunk outside its swizzle atom", r, col, off);
      // Every element of the chunk follows it contiguously.
      for (int e = 1; e < 8; ++e)
        if (detail::swizzle128Offset<kRows>(r, col + e) != off + 2 * e)
          fail(name + ": chunk not contiguous", r, col + e);
      for (int step = 8; r + step < kRows; step += 8)
        if (detail::swizzle128Offset<kRows>(r + step, col) != off + step * 128)
          fail(name + ": rows 8k apart not 128·8k bytes apart", r, col, step);
    }
  for (size_t k = 0; k < slot.size(); ++k)
    if (slot[k] != 1)
      fail(name + ": slot not written exactly once", (long long)k, slot[k]);
  ++checked;
}

/// descAdd(desc128B(a), off) == desc128B(a + off) inside shared memory.
void checkDescAdd(unsigned lbo, unsigned sbo) {
  const unsigned kShared = 232448; // 227 KiB
  for (unsigned a = 0; a < kShared; a += 16)
    for (unsigned off = 0; a + off < kShared; off += off < 256 ? 16 : 4096 + 16) {
      unsigned long long want = wgmma::desc128B(a + off, lbo, sbo);
      unsigned long long got = wgmma::descAdd(wgmma::desc128B(a, lbo, sbo), off);
      if (got != want)
        fail("descAdd lbo " + std::to_string(lbo) + " sbo " + std::to_string(sbo), a, off);
    }
  ++checked;
}

} // namespace

int main() {
  // (threads that copy, tile rows, 16-byte chunks per row) of the kernels:
  // wgmma forward (256 or 128 lanes; 64- and 128-row tiles; D = 64, 128),
  // mma.sync forward and backward (256 threads; D = 64, 128; other head
  // dims, e.g. 96 with 12 chunks, take the generic loop).
  checkRounds<256, 128, 16>();
  checkRounds<256, 64, 16>();
  checkRounds<128, 128, 16>();
  checkRounds<128, 64, 16>();
  checkRounds<256, 128, 8>();
  checkRounds<256, 64, 8>();
  checkRounds<128, 128, 8>();
  checkRounds<128, 64, 8>();
  checkSwizzle<128, 128>();
  checkSwizzle<64, 128>();
  checkSwizzle<128, 64>();
  checkSwizzle<64, 64>();
  // Q and K tiles (leading byte offset 16), V read transposed (kBlockN·128).
  checkDescAdd(16, 1024);
  checkDescAdd(64 * 128, 1024);
  checkDescAdd(128 * 128, 1024);
  std::printf("copy plans: %d checks, %d failures\n", checked, failures);
  return failures ? 1 : 0;
}
