//===- RotorFolds.cpp - Folders and canonicalizations of rotor ops ----------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/Dialect/Rotor/RotorOps.h"

#include "mlir/Dialect/CommonFolders.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::rotor;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// The values of a constant float tensor, widened to double.
static std::optional<SmallVector<double>> getConstantValues(Value v) {
  DenseFPElementsAttr attr;
  if (!matchPattern(v, m_Constant(&attr)))
    return std::nullopt;
  SmallVector<double> out;
  out.reserve(attr.getNumElements());
  for (APFloat f : attr.getValues<APFloat>()) {
    bool lost;
    f.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &lost);
    out.push_back(f.convertToDouble());
  }
  return out;
}

/// A dense constant of `type` holding `values` rounded to its element type.
static DenseElementsAttr makeConstant(RankedTensorType type,
                                      ArrayRef<double> values) {
  auto &sem = cast<FloatType>(type.getElementType()).getFloatSemantics();
  SmallVector<APFloat> elems;
  elems.reserve(values.size());
  for (double d : values) {
    APFloat f(d);
    bool lost;
    f.convert(sem, APFloat::rmNearestTiesToEven, &lost);
    elems.push_back(f);
  }
  return DenseElementsAttr::get(type, elems);
}

/// The D x D matrix G_0 · G_1 · … of a chain of Givens rotations, row-major.
static SmallVector<double> givensMatrix(int64_t dim, ArrayRef<double> angles,
                                        ArrayRef<int64_t> pairs) {
  SmallVector<double> m(dim * dim, 0.0);
  for (int64_t r = 0; r < dim; ++r)
    m[r * dim + r] = 1.0;
  for (size_t k = 0; k < angles.size(); ++k) {
    int64_t i = pairs[2 * k], j = pairs[2 * k + 1];
    double c = std::cos(angles[k]), s = std::sin(angles[k]);
    for (int64_t r = 0; r < dim; ++r) {
      double a = m[r * dim + i], b = m[r * dim + j];
      m[r * dim + i] = a * c - b * s;
      m[r * dim + j] = a * s + b * c;
    }
  }
  return m;
}

/// Row-major product of two n x n matrices.
static SmallVector<double> matmul(ArrayRef<double> a, ArrayRef<double> b,
                                  int64_t n) {
  SmallVector<double> c(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < n; ++k) {
      double aik = a[i * n + k];
      for (int64_t j = 0; j < n; ++j)
        c[i * n + j] += aik * b[k * n + j];
    }
  return c;
}

/// The last dimension of a value's tensor type.
static int64_t lastDim(Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  return t.getDimSize(t.getRank() - 1);
}

/// The rotation that a rotate or givens op with constant operands applies,
/// as a D x D matrix, if it has one.
static std::optional<SmallVector<double>> constantRotation(Operation *op) {
  if (auto rot = dyn_cast_or_null<RotateOp>(op))
    return getConstantValues(rot.getRotation());
  if (auto g = dyn_cast_or_null<GivensOp>(op)) {
    int64_t dim = lastDim(g.getInput());
    auto angles = getConstantValues(g.getAngles());
    if (!angles || ShapedType::isDynamic(dim))
      return std::nullopt;
    return givensMatrix(dim, *angles, g.getPairs());
  }
  return std::nullopt;
}

/// The input of a rotate or givens op.
static Value rotationInput(Operation *op) {
  if (auto rot = dyn_cast<RotateOp>(op))
    return rot.getInput();
  return cast<GivensOp>(op).getInput();
}

//===----------------------------------------------------------------------===//
// RopeOp
//===----------------------------------------------------------------------===//

OpFoldResult RopeOp::fold(FoldAdaptor) {
  // rope(x) with rotary_dim = 0 rotates nothing.
  if (auto r = getRotaryDim(); r && *r == 0)
    return getInput();
  // Normalize in place: drop a rotary_dim equal to head_dim and a scaling
  // that changes nothing.
  bool changed = false;
  int64_t headDim = getInput().getType().getDimSize(3);
  if (auto r = getRotaryDim();
      r && !ShapedType::isDynamic(headDim) && (int64_t)*r == headDim) {
    removeRotaryDimAttr();
    changed = true;
  }
  if (auto s = getScalingAttr()) {
    bool identity = s.getKind() == RopeScalingKind::none ||
                    (s.getKind() == RopeScalingKind::linear &&
                     s.getFactor().isExactlyValue(1.0));
    if (identity) {
      removeScalingAttr();
      changed = true;
    }
  }
  return changed ? OpFoldResult(getResult()) : OpFoldResult();
}

//===----------------------------------------------------------------------===//
// GivensOp
//===----------------------------------------------------------------------===//

OpFoldResult GivensOp::fold(FoldAdaptor adaptor) {
  // givens(x) with no rotation, or only zero angles => x
  if (getNumRotations() == 0)
    return getInput();
  if (auto angles = dyn_cast_or_null<DenseFPElementsAttr>(adaptor.getAngles()))
    if (llvm::all_of(angles.getValues<APFloat>(),
                     [](const APFloat &f) { return f.isZero(); }))
      return getInput();
  return {};
}

namespace {

/// givens(x, [a, 0, b], [p0, p1, p2]) => givens(x, [a, b], [p0, p2])
struct DropZeroAngleRotations : OpRewritePattern<GivensOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(GivensOp op,
                                PatternRewriter &rewriter) const override {
    auto angles = getConstantValues(op.getAngles());
    if (!angles || llvm::none_of(*angles, [](double a) { return a == 0.0; }))
      return failure();
    SmallVector<double> kept;
    SmallVector<int64_t> pairs;
    for (auto [k, a] : llvm::enumerate(*angles)) {
      if (a == 0.0)
        continue;
      kept.push_back(a);
      pairs.push_back(op.getPairs()[2 * k]);
      pairs.push_back(op.getPairs()[2 * k + 1]);
    }
    auto type = RankedTensorType::get(
        {(int64_t)kept.size()}, op.getAngles().getType().getElementType());
    Value newAngles = arith::ConstantOp::create(rewriter, op.getLoc(), type,
                                                makeConstant(type, kept));
    rewriter.replaceOpWithNewOp<GivensOp>(op, op.getInput(), newAngles,
                                          rewriter.getDenseI64ArrayAttr(pairs));
    return success();
  }
};

/// givens(givens(x, a1, p1), a2, p2) => givens(x, concat(a1, a2), p1 ++ p2)
struct MergeGivensChain : OpRewritePattern<GivensOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(GivensOp op,
                                PatternRewriter &rewriter) const override {
    auto inner = op.getInput().getDefiningOp<GivensOp>();
    if (!inner || !inner->hasOneUse())
      return failure();
    auto innerAngles = inner.getAngles().getType();
    auto outerAngles = op.getAngles().getType();
    if (innerAngles.getElementType() != outerAngles.getElementType())
      return failure();
    SmallVector<int64_t> pairs(inner.getPairs());
    llvm::append_range(pairs, op.getPairs());
    auto type = RankedTensorType::get({(int64_t)pairs.size() / 2},
                                      outerAngles.getElementType());
    Value angles;
    auto a1 = getConstantValues(inner.getAngles());
    auto a2 = getConstantValues(op.getAngles());
    if (a1 && a2) {
      SmallVector<double> all(*a1);
      llvm::append_range(all, *a2);
      angles = arith::ConstantOp::create(rewriter, op.getLoc(), type,
                                         makeConstant(type, all));
    } else {
      angles = tensor::ConcatOp::create(
          rewriter, op.getLoc(), type, /*dim=*/0,
          ValueRange{inner.getAngles(), op.getAngles()});
    }
    rewriter.replaceOpWithNewOp<GivensOp>(op, inner.getInput(), angles,
                                          rewriter.getDenseI64ArrayAttr(pairs));
    return success();
  }
};

/// Two consecutive constant rotations (givens with constant angles, or rotate
/// with a constant matrix) fold into one rotate by the product matrix:
///   rotate(rotate(x, C1), C2)            => rotate(x, C1 · C2)
///   rotate(givens(x, c, p), C)           => rotate(x, G(c, p) · C)
///   givens(rotate(x, C), c, p)           => rotate(x, C · G(c, p))
/// Two givens chains are merged by MergeGivensChain instead, which keeps
/// the cheaper O(N) form.
template <typename OpTy>
struct ComposeConstantRotations : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    Operation *inner = op.getInput().getDefiningOp();
    if (!inner || !isa<RotateOp, GivensOp>(inner) || !inner->hasOneUse())
      return failure();
    if (isa<GivensOp>(inner) && isa<GivensOp>(op.getOperation()))
      return failure();
    int64_t dim = lastDim(op.getInput());
    if (ShapedType::isDynamic(dim))
      return failure();
    auto first = constantRotation(inner);
    auto second = constantRotation(op.getOperation());
    if (!first || !second)
      return failure();
    auto elemType =
        cast<RankedTensorType>(op.getInput().getType()).getElementType();
    auto type = RankedTensorType::get({dim, dim}, elemType);
    Value r = arith::ConstantOp::create(
        rewriter, op.getLoc(), type,
        makeConstant(type, matmul(*first, *second, dim)));
    rewriter.replaceOpWithNewOp<RotateOp>(op, rotationInput(inner), r);
    return success();
  }
};

} // namespace

void GivensOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                           MLIRContext *context) {
  results.add<DropZeroAngleRotations, MergeGivensChain,
              ComposeConstantRotations<GivensOp>>(context);
}

//===----------------------------------------------------------------------===//
// RotateOp
//===----------------------------------------------------------------------===//

bool mlir::rotor::isIdentityMatrix(Attribute attr) {
  auto r = dyn_cast_or_null<DenseFPElementsAttr>(attr);
  if (!r || !r.getType().hasStaticShape() || r.getType().getRank() != 2 ||
      r.getType().getDimSize(0) != r.getType().getDimSize(1))
    return false;
  int64_t n = r.getType().getDimSize(0);
  for (auto [idx, f] : llvm::enumerate(r.getValues<APFloat>())) {
    bool diagonal = (int64_t)idx / n == (int64_t)idx % n;
    if (diagonal ? !f.isExactlyValue(1.0) : !f.isZero())
      return false;
  }
  return true;
}

OpFoldResult RotateOp::fold(FoldAdaptor adaptor) {
  // rotate(x, I) => x
  if (isIdentityMatrix(adaptor.getRotation()))
    return getInput();
  return {};
}

void RotateOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                           MLIRContext *context) {
  results.add<ComposeConstantRotations<RotateOp>>(context);
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

namespace {
/// attention {return_lse} whose lse is unused => attention without lse
struct DropUnusedLse : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.getLse() || !op.getLse().use_empty())
      return failure();
    auto newOp = AttentionOp::create(
        rewriter, op.getLoc(), op.getOutput().getType(), /*lse=*/Type(),
        op.getQuery(), op.getKey(), op.getValue(), op.getBias(),
        op.getQueryPositions(), op.getKeyPositions(), op.getRopeLearnedBase(),
        op.getQueryGivensAngles(), op.getQueryRotation(), op.getQueryStart(),
        op.getMaskAttr(), op.getScaleAttr(), op.getSoftcapAttr(),
        op.getBiasMaxDistanceAttr(), /*return_lse=*/nullptr,
        op.getRopeLayoutAttr(), op.getRopeRotaryDimAttr(),
        op.getRopeBaseAttr(), op.getRopeScalingAttr(),
        op.getGivensQPairsAttr());
    rewriter.replaceAllUsesWith(op.getOutput(), newOp.getOutput());
    rewriter.eraseOp(op);
    return success();
  }
};
} // namespace

void AttentionOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                              MLIRContext *context) {
  results.add<DropUnusedLse>(context);
}

//===----------------------------------------------------------------------===//
// Elementwise ops
//===----------------------------------------------------------------------===//

/// True when `attr` is a splat float constant equal to `value`.
static bool isSplatOf(Attribute attr, double value) {
  auto splat = dyn_cast_or_null<SplatElementsAttr>(attr);
  if (!splat || !isa<FloatType>(splat.getElementType()))
    return false;
  return splat.getSplatValue<APFloat>().isExactlyValue(value);
}

/// Folds a binary op whose right operand is the identity element, or whose
/// operands are both constants of the result type.
template <typename Calc>
static OpFoldResult foldBinary(Operation *op, ArrayRef<Attribute> operands,
                               double identity, Calc calc) {
  Value lhs = op->getOperand(0), rhs = op->getOperand(1);
  Type resultType = op->getResult(0).getType();
  if (isSplatOf(operands[1], identity) && lhs.getType() == resultType)
    return lhs;
  if (isSplatOf(operands[0], identity) && rhs.getType() == resultType)
    return rhs;
  if (lhs.getType() == resultType && rhs.getType() == resultType)
    return constFoldBinaryOp<FloatAttr, APFloat, void>(operands, calc);
  return {};
}

OpFoldResult AddOp::fold(FoldAdaptor adaptor) {
  return foldBinary(*this, adaptor.getOperands(), 0.0,
                    [](const APFloat &a, const APFloat &b) { return a + b; });
}

OpFoldResult MulOp::fold(FoldAdaptor adaptor) {
  return foldBinary(*this, adaptor.getOperands(), 1.0,
                    [](const APFloat &a, const APFloat &b) { return a * b; });
}

OpFoldResult ReluOp::fold(FoldAdaptor) {
  // relu(relu(x)) => relu(x)
  if (getInput().getDefiningOp<ReluOp>())
    return getInput();
  return {};
}

//===----------------------------------------------------------------------===//
// Head layout
//===----------------------------------------------------------------------===//

OpFoldResult SplitHeadsOp::fold(FoldAdaptor) {
  // split_heads(merge_heads(x)) => x, when the head count is the same
  auto merge = getInput().getDefiningOp<MergeHeadsOp>();
  if (merge && merge.getInput().getType() == getType())
    return merge.getInput();
  return {};
}

OpFoldResult MergeHeadsOp::fold(FoldAdaptor) {
  // merge_heads(split_heads(x)) => x
  auto split = getInput().getDefiningOp<SplitHeadsOp>();
  if (split && split.getInput().getType() == getType())
    return split.getInput();
  return {};
}
