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

SmallVector<double> AttentionOp::getEffectiveSlopes() {
  if (auto slopes = getSlopes())
    return SmallVector<double>(*slopes);
  return alibiSlopes(getQuery().getType().getDimSize(1),
                     getMaxBias().convertToDouble());
}

double AttentionOp::getEffectiveScale() {
  if (auto s = getScale())
    return s->convertToDouble();
  int64_t d = getQuery().getType().getDimSize(3);
  return ShapedType::isDynamic(d) ? 1.0 : 1.0 / std::sqrt(double(d));
}

rotor::MaskAttr AttentionOp::getEffectiveMask() {
  if (auto m = getMaskAttr())
    return m;
  return rotor::MaskAttr::get(getContext(), /*causal=*/false, std::nullopt,
                              std::nullopt, /*dilation=*/1, std::nullopt,
                              /*global=*/0);
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

LogicalResult AttentionOp::verify() {
  auto qt = getQuery().getType(), kt = getKey().getType(),
       vt = getValue().getType();
  if (kt.getElementType() != qt.getElementType() ||
      vt.getElementType() != qt.getElementType())
    return emitOpError() << "query, key and value must share an element type, "
                            "got "
                         << qt.getElementType() << ", " << kt.getElementType()
                         << " and " << vt.getElementType();
  ArrayRef<int64_t> q = qt.getShape(), k = kt.getShape(), v = vt.getShape();
  if (conflict(q[0], k[0]) || conflict(q[0], v[0]) || conflict(k[0], v[0]))
    return emitOpError() << "query, key and value batch sizes differ";
  if (ShapedType::isDynamic(q[1]) || ShapedType::isDynamic(k[1]) ||
      ShapedType::isDynamic(v[1]))
    return emitOpError() << "head counts must be static (the slopes and the "
                            "query-to-key/value head map depend on them)";
  if (k[1] != v[1])
    return emitOpError() << "key has " << k[1] << " heads but value has "
                         << v[1];
  if (k[1] == 0 || q[1] % k[1] != 0)
    return emitOpError() << q[1] << " query heads are not divisible by "
                         << k[1] << " key/value heads";
  if (conflict(q[3], k[3]))
    return emitOpError() << "query head_dim " << q[3]
                         << " differs from key head_dim " << k[3];
  if (conflict(k[2], v[2]))
    return emitOpError() << "key has " << k[2] << " positions but value has "
                         << v[2];
  if (auto s = getScale();
      s && !(std::isfinite(s->convertToDouble()) && s->convertToDouble() > 0))
    return emitOpError() << "scale must be positive and finite, got "
                         << rotor::formatNumber(s->convertToDouble());
  double maxBias = getMaxBias().convertToDouble();
  if (!std::isfinite(maxBias) || maxBias <= 0)
    return emitOpError() << "max_bias must be positive and finite, got "
                         << rotor::formatNumber(maxBias);
  if (auto slopes = getSlopes()) {
    if (int64_t(slopes->size()) != q[1])
      return emitOpError() << "slopes has " << slopes->size()
                           << " entries but there are " << q[1]
                           << " query heads";
    for (auto [h, slope] : llvm::enumerate(*slopes))
      if (!std::isfinite(slope))
        return emitOpError() << "slope of head " << h << " is not finite ("
                             << rotor::formatNumber(slope) << ")";
  }
  ArrayRef<int64_t> o = getOutput().getType().getShape();
  if (o[0] != q[0] || o[1] != q[1] || o[2] != q[2] || o[3] != v[3] ||
      getOutput().getType().getElementType() != qt.getElementType())
    return emitOpError() << "result type " << getOutput().getType()
                         << " is not (batch, query heads, queries, value "
                            "head_dim) of the query's element type";
  return success();
}
