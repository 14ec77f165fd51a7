//===- MaskTiling.h - Key ranges and full tiles of structured masks -*- C++ -*-===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// What an attention kernel needs to know about a `#rotor.mask` to loop only
// over the work the mask allows, shared by every backend:
//
// * the key range of a query tile: the keys that any query of the tile may
//   see are inside [0, globalEnd) ∪ [lo, hi) (the global-token prefix, then
//   the local range of the causal bound, window, dilation and chunk), so
//   the kernel visits those key tiles and never the S x S grid;
// * the full-tile predicate: whether every (query, key) pair of a tile is
//   visible, so that the kernel skips the per-element mask test there;
// * the simplification of a mask for static sequence lengths (a window
//   longer than the sequence is no window, etc.), which
//   `rotor-specialize-masks` applies to the IR.
//
// The range and the predicate are written once, generic over the
// arithmetic: `IntMaskArith` evaluates them on integers (tests, host-side
// planning, code generators that emit constants), and a lowering supplies
// an arithmetic that builds IR (see LowerAttention.cpp). Positions follow
// the mask's convention: query i of Sq sits at p = i + Sk - Sq.
//
//===----------------------------------------------------------------------===//

#ifndef ROTOR_ANALYSIS_MASKTILING_H
#define ROTOR_ANALYSIS_MASKTILING_H

#include "rotor/Dialect/Rotor/RotorOps.h"

#include <cstdint>
#include <optional>

namespace mlir::rotor {

/// The keys a query tile may see: [0, globalEnd) and [lo, hi), disjoint
/// (globalEnd <= lo), both inside [0, Sk).
template <typename V>
struct KeyRange {
  V globalEnd;
  V lo;
  V hi;
};

/// Integer arithmetic for the generic mask computations. An arithmetic `A`
/// provides `A::Value` and: c(int64_t), add, sub, mul, min, max, floorDiv
/// (rounding toward negative infinity), lt, le, ge, eq (signed compares
/// giving a predicate), andI, select(predicate, x, y) and truth(bool).
struct IntMaskArith {
  using Value = int64_t;
  int64_t c(int64_t v) const { return v; }
  int64_t add(int64_t x, int64_t y) const { return x + y; }
  int64_t sub(int64_t x, int64_t y) const { return x - y; }
  int64_t mul(int64_t x, int64_t y) const { return x * y; }
  int64_t min(int64_t x, int64_t y) const { return x < y ? x : y; }
  int64_t max(int64_t x, int64_t y) const { return x > y ? x : y; }
  int64_t floorDiv(int64_t x, int64_t y) const {
    return x / y - ((x % y != 0) && ((x < 0) != (y < 0)));
  }
  int64_t lt(int64_t x, int64_t y) const { return x < y; }
  int64_t le(int64_t x, int64_t y) const { return x <= y; }
  int64_t ge(int64_t x, int64_t y) const { return x >= y; }
  int64_t eq(int64_t x, int64_t y) const { return x == y; }
  int64_t andI(int64_t x, int64_t y) const { return x && y; }
  int64_t select(int64_t p, int64_t x, int64_t y) const { return p ? x : y; }
  int64_t truth(bool v) const { return v; }
};

/// The key range of the queries at positions [p0, p1] (p0 <= p1) among
/// `seqK` keys. Every visible key of those queries lies in the range; with
/// dilation the range still contains the invisible keys between the
/// dilated ones (the relayout of `rotor-dilation-relayout` removes them).
template <typename A>
KeyRange<typename A::Value> computeKeyRange(A &a, MaskAttr m,
                                            typename A::Value p0,
                                            typename A::Value p1,
                                            typename A::Value seqK) {
  using V = typename A::Value;
  V lo = a.c(0), hi = seqK;
  V causalHi = seqK;
  if (m.getCausal()) {
    causalHi = a.min(seqK, a.max(a.add(p1, a.c(1)), a.c(0)));
    hi = causalHi;
  }
  int64_t n = m.getDilation();
  if (auto left = m.getWindowLeft())
    lo = a.max(lo, a.sub(p0, a.c(*left * n)));
  if (auto right = m.getWindowRight())
    hi = a.min(hi, a.add(p1, a.c(*right * n + 1)));
  if (auto chunk = m.getChunk()) {
    V c = a.c(*chunk);
    lo = a.max(lo, a.mul(a.floorDiv(p0, c), c));
    hi = a.min(hi, a.mul(a.add(a.floorDiv(p1, c), a.c(1)), c));
  }
  V globalEnd = a.c(0);
  if (int64_t g = m.getGlobal(); g > 0) {
    // Queries among the first G positions see every key (up to the causal
    // bound); the first G keys are seen by every query (up to the causal
    // bound), wherever the local range lies: they form the first range and
    // the local range starts after them.
    V globalQuery = a.andI(a.lt(p0, a.c(g)), a.ge(p1, a.c(0)));
    lo = a.select(globalQuery, a.c(0), lo);
    hi = a.select(globalQuery, causalHi, hi);
    globalEnd = a.min(a.c(g), causalHi);
    lo = a.max(lo, globalEnd);
  }
  lo = a.min(lo, seqK);
  hi = a.max(hi, lo);
  return {globalEnd, lo, hi};
}

/// True when every pair of the queries [p0, p1] and the keys
/// [k0, k0 + kn) is visible and the tile holds `blockK` keys (no padding),
/// so that a kernel may skip the per-element mask test. Conservative: a
/// tile of global tokens and any dilated tile count as partial.
template <typename A>
typename A::Value tileIsFull(A &a, MaskAttr m, typename A::Value k0,
                             typename A::Value kn, int64_t blockK,
                             typename A::Value p0, typename A::Value p1) {
  using V = typename A::Value;
  if (m.getDilation() > 1)
    return a.truth(false);
  V kLast = a.add(k0, a.sub(kn, a.c(1)));
  V full = a.eq(kn, a.c(blockK));
  if (m.getCausal())
    full = a.andI(full, a.le(kLast, p0));
  if (auto left = m.getWindowLeft())
    full = a.andI(full, a.le(a.sub(p1, k0), a.c(*left)));
  if (auto right = m.getWindowRight())
    full = a.andI(full, a.le(a.sub(kLast, p0), a.c(*right)));
  if (auto chunk = m.getChunk()) {
    V c = a.c(*chunk);
    V chunkOf = a.floorDiv(p0, c);
    for (V pos : {p1, k0, kLast})
      full = a.andI(full, a.eq(a.floorDiv(pos, c), chunkOf));
  }
  return full;
}

/// One key tile of a query tile, as a kernel visits it.
struct KeyTile {
  int64_t k0;  ///< first key
  int64_t kn;  ///< number of keys (< blockK only for the last tile of a range)
  bool full;   ///< every pair visible: no mask test needed
};

/// Calls `fn(KeyTile)` for each key tile of `blockK` keys that query tile
/// [q0, q0 + qn) of `seqQ` queries visits among `seqK` keys, in order: the
/// global prefix, then the local range. This is the loop the CPU kernel
/// runs, for host-side planning and code generators.
template <typename Fn>
void forEachKeyTile(MaskAttr m, int64_t q0, int64_t qn, int64_t seqQ,
                    int64_t seqK, int64_t blockK, Fn fn) {
  IntMaskArith a;
  int64_t p0 = q0 + seqK - seqQ, p1 = p0 + qn - 1;
  KeyRange<int64_t> r = computeKeyRange(a, m, p0, p1, seqK);
  auto visit = [&](int64_t start, int64_t end) {
    for (int64_t k0 = start; k0 < end; k0 += blockK) {
      int64_t kn = std::min(blockK, end - k0);
      fn(KeyTile{k0, kn, tileIsFull(a, m, k0, kn, blockK, p0, p1) != 0});
    }
  };
  visit(0, r.globalEnd);
  visit(r.lo, r.hi);
}

/// The same visibility as `m` for every query and key of an attention with
/// `seqQ` queries and `seqK` keys (each absent when not static), in its
/// simplest form:
///
/// * a causal mask drops `window_right` (a causal query sees nothing to its
///   right), and drops `causal` itself when there is one query (unless
///   `keepCausal`: the relative position bias buckets by it);
/// * `window_left` goes when `window_left · dilation >= Sk - 1`,
///   `window_right` when `window_right · dilation >= Sq - 1`;
/// * `chunk` goes when `chunk >= Sk` and `Sq <= Sk` (one chunk holds every
///   position);
/// * `global` goes when nothing else restricts the keys, or becomes the
///   whole mask's reason when `global >= Sk` (every key is a global token:
///   only `causal` remains).
///
/// Dilation 1 and global 0 are the defaults of the attribute already. The
/// result may be the full mask (`isFull()`), which an op expresses by
/// having no mask.
MaskAttr simplifyMask(MaskAttr m, std::optional<int64_t> seqQ,
                      std::optional<int64_t> seqK, bool keepCausal);

} // namespace mlir::rotor

#endif // ROTOR_ANALYSIS_MASKTILING_H
