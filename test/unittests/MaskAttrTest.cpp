//===- MaskAttrTest.cpp - Tests of #rotor.mask semantics ---------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Checks MaskAttr::isVisible against the mask rules as the benchmark anchors
// state them, written out independently here, and the attribute verifier.
//
//===----------------------------------------------------------------------===//

#include "rotor/Dialect/Rotor/RotorDialect.h"
#include "rotor/Dialect/Rotor/RotorOps.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::rotor;

namespace {

class MaskAttrTest : public ::testing::Test {
protected:
  MaskAttrTest() { ctx.loadDialect<RotorDialect>(); }

  MaskAttr mask(bool causal, std::optional<int64_t> left,
                std::optional<int64_t> right, int64_t dilation,
                std::optional<int64_t> chunk, int64_t global) {
    return MaskAttr::get(&ctx, causal, left, right, dilation, chunk, global);
  }

  /// Fails the test at the first (i, j) where `attr` and `rule` disagree.
  template <typename Rule>
  void expectSame(MaskAttr attr, int64_t n, Rule rule) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j)
        ASSERT_EQ(attr.isVisible(i, j), rule(i, j))
            << "query " << i << ", key " << j;
  }

  MLIRContext ctx;
};

TEST_F(MaskAttrTest, FullMaskSeesEverything) {
  MaskAttr m = mask(false, std::nullopt, std::nullopt, 1, std::nullopt, 0);
  EXPECT_TRUE(m.isFull());
  expectSame(m, 19, [](int64_t, int64_t) { return true; });
}

TEST_F(MaskAttrTest, Causal) {
  MaskAttr m = mask(true, std::nullopt, std::nullopt, 1, std::nullopt, 0);
  EXPECT_FALSE(m.isFull());
  expectSame(m, 23, [](int64_t i, int64_t j) { return j <= i; });
}

TEST_F(MaskAttrTest, SlidingWindowMatchesAnchorRule) {
  // Anchors: query i sees key j when j <= i and i - j < W.
  for (int64_t w : {1, 3, 7}) {
    MaskAttr m = mask(true, w - 1, std::nullopt, 1, std::nullopt, 0);
    expectSame(m, 29,
               [&](int64_t i, int64_t j) { return j <= i && i - j < w; });
  }
}

TEST_F(MaskAttrTest, DilatedWindowMatchesAnchorRule) {
  // Anchors: also (i - j) mod d == 0 with i - j < W * d.
  for (int64_t d : {2, 3})
    for (int64_t w : {2, 5}) {
      MaskAttr m = mask(true, w - 1, std::nullopt, d, std::nullopt, 0);
      expectSame(m, 31, [&](int64_t i, int64_t j) {
        return j <= i && (i - j) % d == 0 && i - j < w * d;
      });
    }
}

TEST_F(MaskAttrTest, ChunkedMatchesAnchorRule) {
  // Anchors: floor(i / C) == floor(j / C) and j <= i.
  for (int64_t c : {1, 4, 5}) {
    MaskAttr m = mask(true, std::nullopt, std::nullopt, 1, c, 0);
    expectSame(m, 27, [&](int64_t i, int64_t j) {
      return i / c == j / c && j <= i;
    });
  }
}

TEST_F(MaskAttrTest, HybridMatchesAnchorRule) {
  // Anchors: window or j < G (causal).
  int64_t w = 4, g = 3;
  MaskAttr m = mask(true, w - 1, std::nullopt, 1, std::nullopt, g);
  expectSame(m, 25, [&](int64_t i, int64_t j) {
    return j <= i && ((i - j < w) || j < g);
  });
}

TEST_F(MaskAttrTest, BidirectionalWindowAndGlobalQueries) {
  // Non-causal: the first G queries see every key.
  int64_t g = 2;
  MaskAttr m = mask(false, 2, 1, 1, std::nullopt, g);
  expectSame(m, 17, [&](int64_t i, int64_t j) {
    return i < g || j < g || (i - j <= 2 && j - i <= 1);
  });
}

TEST_F(MaskAttrTest, VerifierRejectsBadParameters) {
  std::string message;
  ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &diag) {
    message = diag.str();
    return success();
  });
  auto emit = [&]() { return emitError(UnknownLoc::get(&ctx)); };
  auto checked = [&](bool causal, std::optional<int64_t> l,
                     std::optional<int64_t> r, int64_t d,
                     std::optional<int64_t> c, int64_t g) {
    message.clear();
    return MaskAttr::getChecked(emit, &ctx, causal, l, r, d, c, g);
  };
  EXPECT_FALSE(checked(false, -1, std::nullopt, 1, std::nullopt, 0));
  EXPECT_EQ(message, "mask window_left must be >= 0, got -1");
  EXPECT_FALSE(checked(true, 4, 2, 1, std::nullopt, 0));
  EXPECT_EQ(message,
            "a causal mask sees no key to the right, but window_right = 2");
  EXPECT_FALSE(checked(false, std::nullopt, std::nullopt, 0, std::nullopt, 0));
  EXPECT_EQ(message, "mask dilation must be >= 1, got 0");
  EXPECT_FALSE(checked(false, std::nullopt, std::nullopt, 1, 0, 0));
  EXPECT_EQ(message, "mask chunk must be >= 1, got 0");
  EXPECT_FALSE(checked(false, std::nullopt, std::nullopt, 1, std::nullopt, -3));
  EXPECT_EQ(message, "mask global must be >= 0, got -3");
  EXPECT_TRUE(checked(true, 1023, 0, 2, 64, 16));
}

} // namespace
