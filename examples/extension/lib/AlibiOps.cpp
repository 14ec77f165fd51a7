//===- AlibiOps.cpp - The alibi dialect and alibi.attention ----------------===//
//
// Part of the Rotor project: the out-of-tree extension example.
//
//===----------------------------------------------------------------------===//

#include "alibi/AlibiOps.h"

#include "rotor/Dialect/Rotor/RotorDiagnostics.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

#include <cmath>

using namespace mlir;
using namespace mlir::alibi;

#include "alibi/AlibiDialect.cpp.inc"

void AlibiDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "alibi/AlibiOps.cpp.inc"
      >();
}

#define GET_OP_CLASSES
#include "alibi/AlibiOps.cpp.inc"

SmallVector<double> mlir::alibi::alibiSlopes(int64_t numHeads,
                                             double maxBias) {
  // The geometric sequence of n = 2^k heads: 2^(-maxBias (h+1) / n).
  auto sequence = [&](int64_t n) {
    SmallVector<double> s;
    for (int64_t h = 0; h < n; ++h)
      s.push_back(std::exp2(-maxBias * double(h + 1) / double(n)));
    return s;
  };
  int64_t n = int64_t(1) << llvm::Log2_64(uint64_t(numHeads));
  SmallVector<double> slopes = sequence(n);
  // Other head counts: the odd powers of the 2n sequence's ratio,
  // 2^(-maxBias (2i+1) / 2n), fill the gap (they interleave the first n).
  SmallVector<double> finer = sequence(2 * n);
  for (int64_t i = 0; int64_t(slopes.size()) < numHeads; ++i)
    slopes.push_back(finer[2 * i]);
  return slopes;
}

// alibi.attention and alibi.attention_grad share their operands and
// attributes, hence these helpers.
template <typename OpT>
static SmallVector<double> effectiveSlopes(OpT op) {
  if (auto slopes = op.getSlopes())
    return SmallVector<double>(*slopes);
  return alibiSlopes(op.getQuery().getType().getDimSize(1),
                     op.getMaxBias().convertToDouble());
}

template <typename OpT> static double effectiveScale(OpT op) {
  if (auto s = op.getScale())
    return s->convertToDouble();
  int64_t d = op.getQuery().getType().getDimSize(3);
  return ShapedType::isDynamic(d) ? 1.0 : 1.0 / std::sqrt(double(d));
}

template <typename OpT> static rotor::MaskAttr effectiveMask(OpT op) {
  if (auto m = op.getMaskAttr())
    return m;
  return rotor::MaskAttr::get(op.getContext(), /*causal=*/false, std::nullopt,
                              std::nullopt, /*dilation=*/1, std::nullopt,
                              /*global=*/0);
}

SmallVector<double> AttentionOp::getEffectiveSlopes() {
  return effectiveSlopes(*this);
}
double AttentionOp::getEffectiveScale() { return effectiveScale(*this); }
rotor::MaskAttr AttentionOp::getEffectiveMask() { return effectiveMask(*this); }

SmallVector<double> AttentionGradOp::getEffectiveSlopes() {
  return effectiveSlopes(*this);
}
double AttentionGradOp::getEffectiveScale() { return effectiveScale(*this); }
rotor::MaskAttr AttentionGradOp::getEffectiveMask() {
  return effectiveMask(*this);
}

LogicalResult AttentionOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  auto q = dyn_cast<RankedTensorType>(adaptor.getQuery().getType());
  auto v = dyn_cast<RankedTensorType>(adaptor.getValue().getType());
  if (!q || !v || q.getRank() != 4 || v.getRank() != 4)
    return emitOptionalError(loc, "alibi.attention: query and value must be "
                                  "4-D ranked tensors");
  ArrayRef<int64_t> qs = q.getShape();
  results.push_back(RankedTensorType::get({qs[0], qs[1], qs[2], v.getDimSize(3)},
                                          q.getElementType()));
  return success();
}

/// Two sizes conflict when both are static and differ.
static bool conflict(int64_t a, int64_t b) {
  return !ShapedType::isDynamic(a) && !ShapedType::isDynamic(b) && a != b;
}

/// The rules on the operands and attributes of alibi.attention and
/// alibi.attention_grad.
template <typename OpT> static LogicalResult verifyOperands(OpT op) {
  auto qt = op.getQuery().getType(), kt = op.getKey().getType(),
       vt = op.getValue().getType();
  if (kt.getElementType() != qt.getElementType() ||
      vt.getElementType() != qt.getElementType())
    return op.emitOpError()
           << "query, key and value must share an element type, got "
           << qt.getElementType() << ", " << kt.getElementType() << " and "
           << vt.getElementType();
  ArrayRef<int64_t> q = qt.getShape(), k = kt.getShape(), v = vt.getShape();
  if (conflict(q[0], k[0]) || conflict(q[0], v[0]) || conflict(k[0], v[0]))
    return op.emitOpError() << "query, key and value batch sizes differ";
  if (ShapedType::isDynamic(q[1]) || ShapedType::isDynamic(k[1]) ||
      ShapedType::isDynamic(v[1]))
    return op.emitOpError() << "head counts must be static (the slopes and the "
                            "query-to-key/value head map depend on them)";
  if (k[1] != v[1])
    return op.emitOpError() << "key has " << k[1] << " heads but value has "
                         << v[1];
  if (k[1] == 0 || q[1] % k[1] != 0)
    return op.emitOpError() << q[1] << " query heads are not divisible by "
                         << k[1] << " key/value heads";
  if (conflict(q[3], k[3]))
    return op.emitOpError() << "query head_dim " << q[3]
                         << " differs from key head_dim " << k[3];
  if (conflict(k[2], v[2]))
    return op.emitOpError() << "key has " << k[2] << " positions but value has "
                         << v[2];
  if (auto s = op.getScale();
      s && !(std::isfinite(s->convertToDouble()) && s->convertToDouble() > 0))
    return op.emitOpError() << "scale must be positive and finite, got "
                         << rotor::formatNumber(s->convertToDouble());
  double maxBias = op.getMaxBias().convertToDouble();
  if (!std::isfinite(maxBias) || maxBias <= 0)
    return op.emitOpError() << "max_bias must be positive and finite, got "
                         << rotor::formatNumber(maxBias);
  if (auto slopes = op.getSlopes()) {
    if (int64_t(slopes->size()) != q[1])
      return op.emitOpError() << "slopes has " << slopes->size()
                           << " entries but there are " << q[1]
                           << " query heads";
    for (auto [h, slope] : llvm::enumerate(*slopes))
      if (!std::isfinite(slope))
        return op.emitOpError() << "slope of head " << h << " is not finite ("
                             << rotor::formatNumber(slope) << ")";
  }
  return success();
}

LogicalResult AttentionOp::verify() {
  if (failed(verifyOperands(*this)))
    return failure();
  auto qt = getQuery().getType();
  ArrayRef<int64_t> q = qt.getShape(), v = getValue().getType().getShape();
  ArrayRef<int64_t> o = getOutput().getType().getShape();
  if (o[0] != q[0] || o[1] != q[1] || o[2] != q[2] || o[3] != v[3] ||
      getOutput().getType().getElementType() != qt.getElementType())
    return emitOpError() << "result type " << getOutput().getType()
                         << " is not (batch, query heads, queries, value "
                            "head_dim) of the query's element type";
  return success();
}

LogicalResult AttentionGradOp::verify() {
  if (failed(verifyOperands(*this)))
    return failure();
  // `grad` has the type of the forward op's output.
  auto qt = getQuery().getType(), gt = getGrad().getType();
  ArrayRef<int64_t> q = qt.getShape(), v = getValue().getType().getShape(),
                    g = gt.getShape();
  if (conflict(g[0], q[0]) || g[1] != q[1] || conflict(g[2], q[2]) ||
      conflict(g[3], v[3]) || gt.getElementType() != qt.getElementType())
    return emitOpError() << "grad type " << gt
                         << " is not (batch, query heads, queries, value "
                            "head_dim) of the query's element type";
  return success();
}
