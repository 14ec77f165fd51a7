//===- LoweringUtils.cpp - Helpers shared by the rotor lowerings ------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/Conversion/LoweringUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/TypeUtilities.h"

using namespace mlir;

Value rotor::getDimValue(OpBuilder &b, Location loc, Value v, int64_t dim) {
  return tensor::DimOp::create(b, loc, v, dim);
}

OpFoldResult rotor::getDim(OpBuilder &b, Location loc, Value v, int64_t dim) {
  int64_t size = cast<RankedTensorType>(v.getType()).getDimSize(dim);
  if (!ShapedType::isDynamic(size))
    return b.getIndexAttr(size);
  return getDimValue(b, loc, v, dim);
}

Value rotor::createEmpty(OpBuilder &b, Location loc, RankedTensorType type,
                         ArrayRef<OpFoldResult> sizes) {
  SmallVector<Value> dynamic;
  for (auto [i, size] : llvm::enumerate(type.getShape())) {
    if (!ShapedType::isDynamic(size))
      continue;
    OpFoldResult s = sizes[i];
    if (auto v = dyn_cast<Value>(s))
      dynamic.push_back(v);
    else
      dynamic.push_back(arith::ConstantIndexOp::create(
          b, loc, cast<IntegerAttr>(cast<Attribute>(s)).getInt()));
  }
  return tensor::EmptyOp::create(b, loc, type, dynamic);
}

Value rotor::extractIndexScalar(OpBuilder &b, Location loc, Value oneElement) {
  auto type = cast<RankedTensorType>(oneElement.getType());
  SmallVector<Value> indices(type.getRank(),
                             arith::ConstantIndexOp::create(b, loc, 0));
  Value scalar = tensor::ExtractOp::create(b, loc, oneElement, indices);
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), scalar);
}

Value rotor::clampedEnd(OpBuilder &b, Location loc, Value start, Value count,
                        Value limit) {
  // start is first clamped to [-count, limit], so start + count stays in
  // [0, limit + count]: no overflow for any 64-bit start.
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value lowest = arith::SubIOp::create(b, loc, zero, count);
  Value s = arith::MaxSIOp::create(b, loc, start, lowest);
  s = arith::MinSIOp::create(b, loc, s, limit);
  Value end = arith::AddIOp::create(b, loc, s, count);
  return arith::MinSIOp::create(b, loc, end, limit);
}

FloatType rotor::getAccumulationType(Type elem) {
  if (elem.isF64())
    return cast<FloatType>(elem);
  return Float32Type::get(elem.getContext());
}

Value rotor::convertFloat(OpBuilder &b, Location loc, Value v, Type to) {
  Type from = v.getType();
  if (from == to)
    return v;
  if (cast<FloatType>(from).getWidth() < cast<FloatType>(to).getWidth())
    return arith::ExtFOp::create(b, loc, to, v);
  // f64 -> bf16/f16 goes through f32: the direct conversion needs a
  // compiler-rt routine (__truncdfbf2) that a standalone artifact lacks, and
  // f32 -> bf16 is expanded into integer arithmetic by arith-expand.
  if (from.isF64() && cast<FloatType>(to).getWidth() < 32)
    v = arith::TruncFOp::create(b, loc, b.getF32Type(), v);
  return arith::TruncFOp::create(b, loc, to, v);
}

Value rotor::createFloatConstant(OpBuilder &b, Location loc, Type type,
                                 double value) {
  return arith::ConstantOp::create(b, loc, type, b.getFloatAttr(type, value));
}

Value rotor::createIndexConstant(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

SmallVector<utils::IteratorType> rotor::parallelIterators(int64_t n) {
  return SmallVector<utils::IteratorType>(n, utils::IteratorType::parallel);
}

void rotor::forLoop(OpBuilder &b, Location loc, Value lb, Value ub,
                    int64_t step,
                    function_ref<void(OpBuilder &, Location, Value)> body) {
  scf::ForOp::create(b, loc, lb, ub,
                     arith::ConstantIndexOp::create(b, loc, step),
                     ValueRange{},
                     [&](OpBuilder &fb, Location fl, Value iv, ValueRange) {
                       body(fb, fl, iv);
                       scf::YieldOp::create(fb, fl);
                     });
}

Value rotor::buildMaskPredicate(OpBuilder &b, Location loc, MaskAttr mask,
                                Value qpos, Value kpos) {
  Type type = qpos.getType();
  assert(kpos.getType() == type && "query and key positions differ in type");
  auto vecType = dyn_cast<VectorType>(type);
  Type elem = getElementTypeOrSelf(type);
  Type boolType = vecType ? Type(VectorType::get(vecType.getShape(),
                                                 b.getI1Type()))
                          : Type(b.getI1Type());
  auto constant = [&](Type t, Attribute scalar) -> Value {
    if (auto vt = dyn_cast<VectorType>(t))
      return arith::ConstantOp::create(b, loc, vt,
                                       DenseElementsAttr::get(vt, scalar));
    return arith::ConstantOp::create(b, loc, cast<TypedAttr>(scalar));
  };
  auto c = [&](int64_t v) {
    return constant(type, b.getIntegerAttr(elem, v));
  };
  auto cmp = [&](arith::CmpIPredicate p, Value x, Value y) -> Value {
    return arith::CmpIOp::create(b, loc, p, x, y);
  };
  auto andI = [&](Value x, Value y) -> Value {
    return arith::AndIOp::create(b, loc, x, y);
  };
  auto orI = [&](Value x, Value y) -> Value {
    return arith::OrIOp::create(b, loc, x, y);
  };
  auto floorDiv = [&](Value x, Value y) -> Value {
    return arith::FloorDivSIOp::create(b, loc, x, y);
  };

  Value d = arith::SubIOp::create(b, loc, qpos, kpos);
  Value local = constant(boolType, b.getBoolAttr(true));
  int64_t n = mask.getDilation();
  if (n > 1)
    local = andI(local, cmp(arith::CmpIPredicate::eq,
                            arith::RemSIOp::create(b, loc, d, c(n)), c(0)));
  if (auto left = mask.getWindowLeft())
    local = andI(local, cmp(arith::CmpIPredicate::sle, d, c(*left * n)));
  if (auto right = mask.getWindowRight())
    local = andI(local,
                 cmp(arith::CmpIPredicate::sle,
                     arith::SubIOp::create(b, loc, c(0), d), c(*right * n)));
  if (auto chunk = mask.getChunk())
    local = andI(local, cmp(arith::CmpIPredicate::eq,
                            floorDiv(qpos, c(*chunk)),
                            floorDiv(kpos, c(*chunk))));
  if (int64_t g = mask.getGlobal(); g > 0)
    local = orI(local,
                orI(cmp(arith::CmpIPredicate::slt, kpos, c(g)),
                    andI(cmp(arith::CmpIPredicate::sge, qpos, c(0)),
                         cmp(arith::CmpIPredicate::slt, qpos, c(g)))));
  if (mask.getCausal())
    local = andI(local, cmp(arith::CmpIPredicate::sge, d, c(0)));
  return local;
}
