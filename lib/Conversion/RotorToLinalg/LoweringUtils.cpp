//===- LoweringUtils.cpp - Helpers shared by the rotor lowerings ------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/Conversion/LoweringUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

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
