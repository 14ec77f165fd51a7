//===- MaskTilingTest.cpp - Key ranges, full tiles and mask simplification ===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Checks the shared mask computations of MaskTiling.h against
// MaskAttr::isVisible by brute force over every (query, key) pair, for a
// grid of masks (causal or not, windows, dilation, chunks, global tokens)
// and awkward sizes (more queries than keys, lengths not multiples of the
// tiles, single queries):
//
// * completeness: every visible pair of a query tile lies in its key range;
// * soundness of the full-tile predicate: a tile called full has every pair
//   visible (and no padding);
// * tightness: without dilation, the range starts and ends at keys that
//   some query of the tile sees;
// * simplifyMask keeps every pair's visibility.
//
//===----------------------------------------------------------------------===//

#include "rotor/Analysis/MaskTiling.h"
#include "rotor/Dialect/Rotor/RotorDialect.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/DebugStringHelper.h"

#include <gtest/gtest.h>

#include <vector>

using namespace mlir;
using namespace mlir::rotor;

namespace {

class MaskTilingTest : public ::testing::Test {
protected:
  MaskTilingTest() { ctx.loadDialect<RotorDialect>(); }

  /// Every valid mask over a grid of parameters.
  std::vector<MaskAttr> masks() {
    std::vector<MaskAttr> out;
    const std::optional<int64_t> none;
    for (bool causal : {false, true})
      for (std::optional<int64_t> left : {none, std::optional<int64_t>(0),
                                          std::optional<int64_t>(3),
                                          std::optional<int64_t>(20)})
        for (std::optional<int64_t> right :
             {none, std::optional<int64_t>(0), std::optional<int64_t>(2),
              std::optional<int64_t>(30)})
          for (int64_t dilation : {1, 2, 3})
            for (std::optional<int64_t> chunk :
                 {none, std::optional<int64_t>(4), std::optional<int64_t>(7),
                  std::optional<int64_t>(64)})
              for (int64_t global : {0, 2, 40}) {
                if (causal && right && *right != 0)
                  continue;
                out.push_back(MaskAttr::get(&ctx, causal, left, right,
                                            dilation, chunk, global));
              }
    return out;
  }

  MLIRContext ctx;
};

/// (Sq, Sk) pairs: square, decode, more keys, more queries, tiny.
const std::pair<int64_t, int64_t> kSizes[] = {
    {13, 13}, {1, 17}, {5, 23}, {9, 4}, {1, 1}, {24, 24}, {3, 40}};

TEST_F(MaskTilingTest, KeyRangeHoldsEveryVisibleKey) {
  IntMaskArith a;
  for (MaskAttr m : masks())
    for (auto [sq, sk] : kSizes)
      for (int64_t bq : {1, 4, 5})
        for (int64_t q0 = 0; q0 < sq; q0 += bq) {
          int64_t qn = std::min(bq, sq - q0);
          int64_t p0 = q0 + sk - sq, p1 = p0 + qn - 1;
          KeyRange<int64_t> r = computeKeyRange(a, m, p0, p1, sk);
          ASSERT_LE(0, r.globalEnd);
          ASSERT_LE(r.globalEnd, r.lo);
          ASSERT_LE(r.lo, r.hi);
          ASSERT_LE(r.hi, sk);
          bool anyVisible = false, firstSeen = false, lastSeen = false;
          for (int64_t p = p0; p <= p1; ++p)
            for (int64_t j = 0; j < sk; ++j) {
              if (!m.isVisible(p, j))
                continue;
              anyVisible = true;
              firstSeen |= j == r.lo;
              lastSeen |= j == r.hi - 1;
              ASSERT_TRUE(j < r.globalEnd || (r.lo <= j && j < r.hi))
                  << "mask " << debugString(m) << ", Sq " << sq << ", Sk "
                  << sk << ": query " << p << " sees key " << j
                  << " outside [0, " << r.globalEnd << ") u [" << r.lo << ", "
                  << r.hi << ")";
            }
          // Tightness of the local range when it is not empty.
          if (m.getDilation() == 1 && m.getGlobal() == 0 && anyVisible &&
              p0 >= 0) {
            EXPECT_TRUE(firstSeen && lastSeen)
                << "mask " << debugString(m) << ", Sq " << sq << ", Sk " << sk
                << ", queries [" << p0 << ", " << p1 << "]: range ["
                << r.lo << ", " << r.hi << ") is wider than the visible keys";
          }
          if (!anyVisible && m.getGlobal() == 0) {
            EXPECT_EQ(r.lo, r.hi) << debugString(m);
          }
        }
}

TEST_F(MaskTilingTest, FullTilesHaveEveryPairVisible) {
  int64_t fullTiles = 0, partialTiles = 0;
  for (MaskAttr m : masks())
    for (auto [sq, sk] : kSizes)
      for (int64_t bq : {1, 4})
        for (int64_t bk : {1, 2, 4})
          for (int64_t q0 = 0; q0 < sq; q0 += bq) {
            int64_t qn = std::min(bq, sq - q0);
            int64_t p0 = q0 + sk - sq;
            forEachKeyTile(m, q0, qn, sq, sk, bk, [&](KeyTile t) {
              ASSERT_GE(t.k0, 0);
              ASSERT_LE(t.k0 + t.kn, sk);
              if (!t.full) {
                ++partialTiles;
                return;
              }
              ++fullTiles;
              ASSERT_EQ(t.kn, bk);
              for (int64_t p = p0; p < p0 + qn; ++p)
                for (int64_t j = t.k0; j < t.k0 + t.kn; ++j)
                  ASSERT_TRUE(m.isVisible(p, j))
                      << debugString(m) << ": tile [" << t.k0 << ", "
                      << t.k0 + t.kn << ") called full, but query " << p
                      << " does not see key " << j;
            });
          }
  // The predicate must not be trivially false.
  EXPECT_GT(fullTiles, 1000);
  EXPECT_GT(partialTiles, 1000);
}

TEST_F(MaskTilingTest, KeyTilesVisitEachKeyOnce) {
  MaskAttr m = MaskAttr::get(&ctx, true, 5, std::nullopt, 1, std::nullopt, 3);
  std::vector<int> visits(100, 0);
  forEachKeyTile(m, 40, 8, 100, 100, 4, [&](KeyTile t) {
    for (int64_t j = t.k0; j < t.k0 + t.kn; ++j)
      ++visits[j];
  });
  for (int64_t j = 0; j < 100; ++j)
    EXPECT_EQ(visits[j], (j < 3 || (j >= 35 && j < 48)) ? 1 : 0) << j;
}

TEST_F(MaskTilingTest, SimplifiedMasksKeepVisibility) {
  int64_t simplified = 0;
  for (MaskAttr m : masks())
    for (auto [sq, sk] : kSizes)
      for (bool keepCausal : {false, true}) {
        MaskAttr s = simplifyMask(m, sq, sk, keepCausal);
        if (s != m)
          ++simplified;
        if (keepCausal) {
          EXPECT_EQ(s.getCausal(), m.getCausal());
        }
        for (int64_t p = sk - sq; p < sk; ++p)
          for (int64_t j = 0; j < sk; ++j)
            ASSERT_EQ(s.isVisible(p, j), m.isVisible(p, j))
                << debugString(m) << " simplified to " << debugString(s)
                << " for Sq " << sq << ", Sk " << sk << ": query " << p
                << ", key " << j;
      }
  EXPECT_GT(simplified, 1000);
}

TEST_F(MaskTilingTest, SimplifyRules) {
  const std::optional<int64_t> none;
  auto mk = [&](bool causal, std::optional<int64_t> l,
                std::optional<int64_t> r, int64_t n, std::optional<int64_t> c,
                int64_t g) { return MaskAttr::get(&ctx, causal, l, r, n, c, g); };
  MaskAttr causal = mk(true, none, none, 1, none, 0);
  // A window as long as the sequence is plain causal.
  EXPECT_EQ(simplifyMask(mk(true, 99, none, 1, none, 0), 100, 100, false),
            causal);
  EXPECT_EQ(simplifyMask(mk(true, 98, none, 1, none, 0), 100, 100, false),
            mk(true, 98, none, 1, none, 0));
  // Counted in dilated steps.
  EXPECT_EQ(simplifyMask(mk(true, 50, none, 2, none, 0), 100, 100, false),
            mk(true, none, none, 2, none, 0));
  // A chunk as long as the sequence.
  EXPECT_EQ(simplifyMask(mk(true, none, none, 1, 128, 0), 100, 100, false),
            causal);
  EXPECT_EQ(simplifyMask(mk(true, none, none, 1, 128, 0), 100, 200, false),
            mk(true, none, none, 1, 128, 0));
  // Global tokens next to nothing local, or covering every key.
  EXPECT_EQ(simplifyMask(mk(true, none, none, 1, none, 0), none, none, false),
            causal);
  EXPECT_EQ(simplifyMask(mk(true, none, none, 1, none, 16), none, none, false),
            causal);
  EXPECT_EQ(simplifyMask(mk(true, 3, none, 2, 8, 16), 16, 16, false), causal);
  // Decoding: one query after every key.
  EXPECT_TRUE(simplifyMask(causal, 1, none, false).isFull());
  EXPECT_EQ(simplifyMask(causal, 1, none, true), causal);
  EXPECT_EQ(simplifyMask(mk(true, 7, none, 1, none, 0), 1, none, false),
            mk(false, 7, none, 1, none, 0));
  // Unknown lengths keep the windows.
  EXPECT_EQ(simplifyMask(mk(false, 5, 5, 1, 4, 0), none, none, false),
            mk(false, 5, 5, 1, 4, 0));
}

} // namespace
