//===- mask_plan_check.cu - Mask and tile-plan logic on the host --*- CUDA -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// The mask logic of the attention kernels, run on the host (no GPU needed;
// ctest builds it with nvcc and runs it in CI):
//  * Mask::visible against a plain transcription of MaskAttr::isVisible
//    (dialects/lib/Rotor/RotorAttrs.cpp), over every (query, key) position
//    pair of a range that includes negative query positions (Sq > Sk);
//  * Mask::tileFull is conservative: true only when every pair of the box
//    is visible;
//  * planTiles (forward: the key tiles a query tile visits) and
//    planQueryTiles (backward: the query tiles a key tile visits) cover
//    every visible pair, list each tile once and stay inside the sequence.
// Exit status 1 on the first kind of failure, with the mask, the rule and
// the positions.
//
//===----------------------------------------------------------------------===//

#include "rotor/cuda/attention_bwd.cuh"
#include "rotor/cuda/mask.cuh"

#include <cstdio>
#include <set>
#include <string>

using namespace rotor::cuda;

namespace {

int failures = 0;

void fail(const std::string &mask, const std::string &rule, long long a, long long b,
          long long c = 0, long long d = 0) {
  if (++failures <= 20)
    std::printf("FAIL %s: %s (%lld, %lld, %lld, %lld)\n", mask.c_str(), rule.c_str(), a, b, c, d);
}

/// The tiles a plan (TilePlan or TileRanges) lists, each checked to lie in
/// [0, tiles) and to be listed once; `at` names the tile planned for.
template <typename Plan>
std::set<long long> listed(const Plan &plan, long long tiles, const std::string &name,
                           const std::string &what, long long at) {
  std::set<long long> out;
  for (long long t = 0; t < plan.count(); ++t) {
    long long n = plan.tile(t);
    if (n < 0 || n >= tiles)
      fail(name, what + " lists a tile outside the sequence", at, n);
    if (!out.insert(n).second)
      fail(name, what + " lists a tile twice", at, n);
  }
  return out;
}

/// MaskAttr::isVisible, written out with the attribute's fields.
template <typename M> bool reference(long long p, long long j) {
  if (M::kCausal && j > p)
    return false;
  if (j < M::kGlobal || (p >= 0 && p < M::kGlobal))
    return true;
  long long d = p - j, n = M::kDilation;
  if (d % n != 0)
    return false;
  if (M::kWindowLeft >= 0 && d / n > M::kWindowLeft)
    return false;
  if (M::kWindowRight >= 0 && -d / n > M::kWindowRight)
    return false;
  if (M::kChunk > 0) {
    auto fdiv = [](long long a, long long b) { return a / b - ((a % b != 0) && (a < 0)); };
    if (fdiv(p, M::kChunk) != fdiv(j, M::kChunk))
      return false;
  }
  return true;
}

template <typename M> std::string describe() {
  return "Mask<causal=" + std::to_string(M::kCausal) + " left=" +
         std::to_string(M::kWindowLeft) + " right=" + std::to_string(M::kWindowRight) +
         " dilation=" + std::to_string(M::kDilation) + " chunk=" + std::to_string(M::kChunk) +
         " global=" + std::to_string(M::kGlobal) + ">";
}

/// Every check on one mask, for query/key tiles of kBM/kBN rows, Sq query
/// rows aligned to the end of Sk keys (row i has position i + Sk − Sq).
template <typename M, int kBM, int kBN> void checkPlans(long long sq, long long sk) {
  const std::string name = describe<M>() + " Sq=" + std::to_string(sq) +
                           " Sk=" + std::to_string(sk) + " tiles " + std::to_string(kBM) + "x" +
                           std::to_string(kBN);
  const long long off = sk - sq;
  // Forward: each query tile's key tiles.
  for (long long m0 = 0; m0 < sq; m0 += kBM) {
    long long rows = sq - m0 < kBM ? sq - m0 : kBM;
    long long pmin = m0 + off, pmax = pmin + rows - 1;
    const std::set<long long> tiles =
        listed(planTiles<M, kBN>(pmin, pmax, sk), ceilDiv(sk, kBN), name, "planTiles", m0);
    for (long long j = 0; j < sk; ++j)
      for (long long p = pmin; p <= pmax; ++p)
        if (reference<M>(p, j) && !tiles.count(j / kBN)) {
          fail(name, "planTiles misses a visible key", p, j);
          break;
        }
    // tileFull: conservative on every listed tile.
    for (long long n : tiles) {
      long long jmin = n * kBN, jmax = jmin + kBN - 1 < sk - 1 ? jmin + kBN - 1 : sk - 1;
      if (!M::tileFull(pmin, pmax, jmin, jmax))
        continue;
      for (long long p = pmin; p <= pmax; ++p)
        for (long long j = jmin; j <= jmax; ++j)
          if (!reference<M>(p, j)) {
            fail(name, "tileFull holds but a pair is masked", p, j, pmin, jmin);
            p = pmax;
            break;
          }
    }
  }
  // Backward: each key tile's query tiles (of kBM rows).
  for (long long n0 = 0; n0 < sk; n0 += kBN) {
    long long jmax = n0 + kBN - 1 < sk - 1 ? n0 + kBN - 1 : sk - 1;
    const std::set<long long> tiles = listed(planQueryTiles<M, kBM>(n0, jmax, sq, off),
                                             ceilDiv(sq, kBM), name, "planQueryTiles", n0);
    for (long long i = 0; i < sq; ++i)
      for (long long j = n0; j <= jmax; ++j)
        if (reference<M>(i + off, j) && !tiles.count(i / kBM)) {
          fail(name, "planQueryTiles misses a query that sees the tile", i, j);
          i = sq;
          break;
        }
  }
}

template <typename M> void checkMask() {
  const std::string name = describe<M>();
  for (long long p = -40; p < 330; ++p)
    for (long long j = 0; j < 330; ++j) {
      bool want = reference<M>(p, j);
      if (M::visible(p, j) != want || M::visible((int)p, (int)j) != want) {
        fail(name, "visible differs from MaskAttr::isVisible", p, j);
        p = 330;
        break;
      }
    }
  for (auto [sq, sk] : {std::pair<long long, long long>{300, 300}, {77, 301}, {301, 77}, {1, 333},
                        {200, 0}, {129, 129}})
  {
    checkPlans<M, 128, 64>(sq, sk);
    checkPlans<M, 64, 128>(sq, sk);
    checkPlans<M, 16, 8>(sq, sk);
  }
}

} // namespace

int main() {
  checkMask<NoMask>();
  checkMask<Mask<true, -1, -1, 1, 0, 0>>();   // causal
  checkMask<Mask<true, 37, -1, 1, 0, 0>>();   // sliding window
  checkMask<Mask<false, 16, 8, 1, 0, 0>>();   // bidirectional window
  checkMask<Mask<false, 0, 0, 1, 0, 0>>();    // the diagonal only
  checkMask<Mask<true, 10, -1, 2, 0, 0>>();   // dilated window
  checkMask<Mask<false, 7, 5, 3, 0, 0>>();    // dilated, bidirectional
  checkMask<Mask<true, -1, -1, 4, 0, 0>>();   // dilation without a window
  checkMask<Mask<true, -1, -1, 1, 37, 0>>();  // causal chunks
  checkMask<Mask<false, -1, -1, 1, 64, 0>>(); // bidirectional chunks
  checkMask<Mask<true, 20, -1, 1, 0, 5>>();   // hybrid: window + global tokens
  checkMask<Mask<true, 63, -1, 1, 0, 64>>();  // hybrid, a whole tile of globals
  checkMask<Mask<false, -1, -1, 1, 64, 3>>(); // chunks + global tokens
  checkMask<Mask<true, -1, -1, 1, 0, 9>>();   // causal with global tokens
  checkMask<Mask<true, 12, -1, 2, 40, 4>>();  // everything at once
  if (failures) {
    std::printf("%d failures\n", failures);
    return 1;
  }
  std::printf("mask and tile-plan checks passed\n");
  return 0;
}
