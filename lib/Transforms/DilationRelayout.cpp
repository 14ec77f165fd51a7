//===- DilationRelayout.cpp - Dilated windows as dense windows --------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// With dilation n, query position p sees only keys j with p ≡ j (mod n), and
// the window counts dilated steps: (p - j) / n <= L. Splitting the positions
// by their residue r = p mod n gives n interleaved subsequences in which
// position p becomes p' = p div n and the mask becomes the dense window
// (p' - j') <= L. The subsequences are laid out as extra heads, residue
// outermost, so that grouped-query heads still pair up: query head
// r·Hq + h uses key/value head (r·Hq + h) / (Hq/Hkv) = r·Hkv + h/(Hq/Hkv).
//
// Lengths are padded to whole subsequences: keys at the end (up to
// Skp = ceil(Sk/n)·n), queries at the end by the same amount and at the
// front down to a multiple of n of the first query position Sk - Sq, so
// that every subsequence keeps the end alignment of queries and keys
// (Skp/n - Sqp/n = floor((Sk - Sq)/n)). Padded keys sit after every real
// query, which only a causal mask hides: without `causal` the pass needs a
// static key length divisible by n. Padded queries are sliced away.
//
//===----------------------------------------------------------------------===//

#include "rotor/Dialect/Rotor/RotorOps.h"
#include "rotor/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include "llvm/Support/raw_ostream.h"

namespace mlir::rotor {
#define GEN_PASS_DEF_ROTORDILATIONRELAYOUT
#include "rotor/Transforms/Passes.h.inc"
} // namespace mlir::rotor

using namespace mlir;
using namespace mlir::rotor;

namespace {

/// Index arithmetic on OpFoldResults: constants fold, the rest becomes
/// arith ops.
struct IndexMath {
  OpBuilder &b;
  Location loc;

  Value value(OpFoldResult v) {
    return getValueOrCreateConstantIndexOp(b, loc, v);
  }
  template <typename OpTy, typename Fn>
  OpFoldResult binary(OpFoldResult x, OpFoldResult y, Fn fn) {
    auto cx = getConstantIntValue(x), cy = getConstantIntValue(y);
    if (cx && cy)
      return b.getIndexAttr(fn(*cx, *cy));
    return OpTy::create(b, loc, value(x), value(y)).getResult();
  }
  OpFoldResult add(OpFoldResult x, OpFoldResult y) {
    return binary<arith::AddIOp>(x, y, [](int64_t a, int64_t c) { return a + c; });
  }
  OpFoldResult sub(OpFoldResult x, OpFoldResult y) {
    return binary<arith::SubIOp>(x, y, [](int64_t a, int64_t c) { return a - c; });
  }
  OpFoldResult mul(OpFoldResult x, int64_t y) {
    return binary<arith::MulIOp>(x, b.getIndexAttr(y),
                                 [](int64_t a, int64_t c) { return a * c; });
  }
  /// Rounds toward negative infinity.
  OpFoldResult floorDiv(OpFoldResult x, int64_t y) {
    return binary<arith::FloorDivSIOp>(
        x, b.getIndexAttr(y), [](int64_t a, int64_t c) {
          return a / c - ((a % c != 0) && ((a < 0) != (c < 0)));
        });
  }
  OpFoldResult ceilDiv(OpFoldResult x, int64_t y) {
    return binary<arith::CeilDivSIOp>(
        x, b.getIndexAttr(y), [](int64_t a, int64_t c) {
          return a / c + ((a % c != 0) && ((a < 0) == (c < 0)));
        });
  }
  int64_t staticOr(OpFoldResult v) {
    return getConstantIntValue(v).value_or(ShapedType::kDynamic);
  }
  bool isZero(OpFoldResult v) { return isConstantIntValue(v, 0); }
  /// A tensor shape with the constant sizes static.
  SmallVector<int64_t> shape(ArrayRef<OpFoldResult> sizes) {
    SmallVector<int64_t> s;
    for (OpFoldResult v : sizes)
      s.push_back(staticOr(v));
    return s;
  }
};

/// (B, H, S, D) => (B, n·H, Sp/n, D): zero-padded to Sp = low + S + high,
/// split into n subsequences of positions ≡ r (mod n), residue outermost.
Value toSubsequences(IndexMath &im, Value x, int64_t n, OpFoldResult low,
                     OpFoldResult high) {
  OpBuilder &b = im.b;
  Location loc = im.loc;
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<OpFoldResult> dims;
  for (int64_t d = 0; d < 4; ++d)
    dims.push_back(tensor::getMixedSize(b, loc, x, d));
  OpFoldResult padded = im.add(im.add(low, dims[2]), high);
  if (!im.isZero(low) || !im.isZero(high)) {
    SmallVector<OpFoldResult> paddedDims(dims);
    paddedDims[2] = padded;
    Value empty = tensor::EmptyOp::create(b, loc, paddedDims,
                                          type.getElementType());
    Value zero = arith::ConstantOp::create(
        b, loc, b.getZeroAttr(type.getElementType()));
    Value filled = linalg::FillOp::create(b, loc, zero, empty).getResult(0);
    SmallVector<OpFoldResult> offsets = {b.getIndexAttr(0), b.getIndexAttr(0),
                                         low, b.getIndexAttr(0)};
    SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
    x = tensor::InsertSliceOp::create(b, loc, x, filled, offsets, dims,
                                      strides);
    dims = paddedDims;
  }
  OpFoldResult sub = im.floorDiv(padded, n);
  // (B, H, Sp/n, n, D)
  SmallVector<OpFoldResult> expanded = {dims[0], dims[1], sub,
                                        b.getIndexAttr(n), dims[3]};
  Type elem = type.getElementType();
  Value split = tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(im.shape(expanded), elem), x,
      SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}, {4}}, expanded);
  // (B, n, H, Sp/n, D)
  SmallVector<OpFoldResult> moved = {dims[0], b.getIndexAttr(n), dims[1], sub,
                                     dims[3]};
  Value init = tensor::EmptyOp::create(b, loc, moved, elem);
  Value transposed =
      linalg::TransposeOp::create(b, loc, split, init,
                                  ArrayRef<int64_t>{0, 3, 1, 2, 4})
          .getResult()[0];
  return tensor::CollapseShapeOp::create(
      b, loc, transposed,
      SmallVector<ReassociationIndices>{{0}, {1, 2}, {3}, {4}});
}

/// The inverse for the output: (B, n·H, Sqp/n, Dv) => (B, H, Sq, Dv),
/// dropping `low` padded rows before the Sq real ones.
Value fromSubsequences(IndexMath &im, Value o, int64_t n, OpFoldResult heads,
                       OpFoldResult low, OpFoldResult seq) {
  OpBuilder &b = im.b;
  Location loc = im.loc;
  auto type = cast<RankedTensorType>(o.getType());
  Type elem = type.getElementType();
  SmallVector<OpFoldResult> dims;
  for (int64_t d = 0; d < 4; ++d)
    dims.push_back(tensor::getMixedSize(b, loc, o, d));
  // (B, n, H, Sqp/n, Dv)
  SmallVector<OpFoldResult> expanded = {dims[0], b.getIndexAttr(n), heads,
                                        dims[2], dims[3]};
  Value split = tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(im.shape(expanded), elem), o,
      SmallVector<ReassociationIndices>{{0}, {1, 2}, {3}, {4}}, expanded);
  // (B, H, Sqp/n, n, Dv)
  SmallVector<OpFoldResult> moved = {dims[0], heads, dims[2],
                                     b.getIndexAttr(n), dims[3]};
  Value init = tensor::EmptyOp::create(b, loc, moved, elem);
  Value transposed =
      linalg::TransposeOp::create(b, loc, split, init,
                                  ArrayRef<int64_t>{0, 2, 3, 1, 4})
          .getResult()[0];
  Value merged = tensor::CollapseShapeOp::create(
      b, loc, transposed,
      SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}, {4}});
  SmallVector<OpFoldResult> offsets = {b.getIndexAttr(0), b.getIndexAttr(0),
                                       low, b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes = {dims[0], heads, seq, dims[3]};
  SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
  auto resultType = RankedTensorType::get(im.shape(sizes), elem);
  return tensor::ExtractSliceOp::create(b, loc, resultType, merged, offsets,
                                        sizes, strides);
}

/// attention(q, k, v) {mask<window, dilation = n>}
///   => relayout(attention(split(q), split(k), split(v)) {mask<window>})
struct RelayoutDilatedAttention : OpRewritePattern<AttentionOp> {
  RelayoutDilatedAttention(MLIRContext *ctx, bool report)
      : OpRewritePattern(ctx), report(report) {}
  bool report;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    MaskAttr m = op.getMaskAttr();
    if (!m || m.getDilation() == 1)
      return rewriter.notifyMatchFailure(op, "no dilation");
    int64_t n = m.getDilation();
    // Global tokens and chunks are defined on the original positions, the
    // relative bias on the original distances (which shrink n-fold), the
    // lse and the fused rope would need their own relayout.
    // A static cache (query_start) fixes the key count only at run time.
    if (m.getGlobal() > 0 || m.getChunk() || op.getBias() || op.getLse() ||
        op.hasPrologue() || op.getQueryStart())
      return rewriter.notifyMatchFailure(
          op, "global tokens, chunks, bias, lse, fused rope or rotation, "
              "query_start");

    Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
    int64_t staticSeqK = op.getKey().getType().getDimSize(2);
    if (!m.getCausal() &&
        (ShapedType::isDynamic(staticSeqK) || staticSeqK % n != 0))
      return rewriter.notifyMatchFailure(
          op, "without causal, padded keys would be visible: needs a static "
              "key length divisible by the dilation");

    Location loc = op.getLoc();
    IndexMath im{rewriter, loc};
    OpFoldResult seqQ = tensor::getMixedSize(rewriter, loc, q, 2);
    OpFoldResult seqK = tensor::getMixedSize(rewriter, loc, k, 2);
    // Keys padded at the end to Skp; queries at the end by as much and at
    // the front from Sk - Sq down to a multiple of n.
    OpFoldResult keyHigh = im.sub(im.mul(im.ceilDiv(seqK, n), n), seqK);
    OpFoldResult offset = im.sub(seqK, seqQ);
    OpFoldResult queryLow = im.sub(offset, im.mul(im.floorDiv(offset, n), n));

    Value qs = toSubsequences(im, q, n, queryLow, keyHigh);
    Value ks = toSubsequences(im, k, n, rewriter.getIndexAttr(0), keyHigh);
    Value vs = v == k ? ks
                      : toSubsequences(im, v, n, rewriter.getIndexAttr(0),
                                       keyHigh);
    MaskAttr dense = MaskAttr::get(getContext(), m.getCausal(),
                                   m.getWindowLeft(), m.getWindowRight(),
                                   /*dilation=*/1, std::nullopt, /*global=*/0);
    // The scale depends on the head dimension only, which is unchanged;
    // an absent scale stays absent.
    auto inner = AttentionOp::create(
        rewriter, loc, qs, ks, vs, /*bias=*/Value(), Value(), Value(), Value(),
        Value(), Value(), /*query_start=*/Value(),
        dense.isFull() ? MaskAttr() : dense,
        op.getScaleAttr(), op.getSoftcapAttr(), op.getBiasMaxDistanceAttr(),
        UnitAttr(), RopeLayoutAttr(), IntegerAttr(), FloatAttr(),
        RopeScalingAttr(), DenseI64ArrayAttr());
    Value out = fromSubsequences(
        im, inner.getOutput(), n, tensor::getMixedSize(rewriter, loc, q, 1),
        queryLow, seqQ);
    if (out.getType() != op.getOutput().getType())
      out = tensor::CastOp::create(rewriter, loc, op.getOutput().getType(),
                                   out);
    if (report)
      llvm::errs() << "rotor-dilation-relayout: dilation " << n
                   << " into " << n
                   << " dense subsequences at " << loc
                   << ": visits 1/" << n
                   << " of the key tiles of the dilated window\n";
    rewriter.replaceOp(op, out);
    return success();
  }
};

struct DilationRelayoutPass
    : rotor::impl::RotorDilationRelayoutBase<DilationRelayoutPass> {
  using Base::Base;
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<RelayoutDilatedAttention>(&getContext(), report);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
