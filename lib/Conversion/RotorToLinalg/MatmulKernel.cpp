//===- MatmulKernel.cpp - A vectorized x · W loop nest for linear layers ---===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// y[m, n] = Σ_k x[m, k] · W(k, n) + bias[n] over the last dimension of x,
// for W given as (N, K) (linear, the PyTorch layout) or (K, N) (rotate).
//
//   for each block of NB output features:
//     Wt = W(:, block) as (K, NB), in the accumulation type, zero padded
//     for each block of MB rows of x (then the remaining rows one by one):
//       acc[r] = bias[block]                                  (vector<NB>)
//       for k: acc[r] += x[m0 + r, k] · Wt[k]                 (broadcast-FMA)
//       y[m0 + r, block] = acc[r]                             (masked tail)
//
// The MB x NB accumulators stay in vector registers; each step of k loads one
// row of Wt and broadcasts MB elements of x. The weights are repacked once
// per feature block (K · NB, in the function's frame), then reused by every
// row: the work is dominated by FMAs for any sequence length.
//
//===----------------------------------------------------------------------===//

#include "rotor/Conversion/LoweringUtils.h"
#include "rotor/Conversion/MatmulKernel.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace mlir::rotor;

namespace {

/// Output features per block (the vector width of the accumulators).
constexpr int64_t kFeatureBlock = 64;

Value index(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

/// An scf.for without iteration arguments.
void forLoop(OpBuilder &b, Location loc, Value lb, Value ub, int64_t step,
             function_ref<void(OpBuilder &, Location, Value)> body) {
  scf::ForOp::create(b, loc, lb, ub, index(b, loc, step), ValueRange{},
                     [&](OpBuilder &fb, Location fl, Value iv, ValueRange) {
                       body(fb, fl, iv);
                       scf::YieldOp::create(fb, fl);
                     });
}

Value toBuffer(OpBuilder &b, Location loc, Value tensor) {
  auto t = cast<RankedTensorType>(tensor.getType());
  return bufferization::ToBufferOp::create(
      b, loc, MemRefType::get(t.getShape(), t.getElementType()), tensor,
      /*read_only=*/true);
}

/// `buffer` (rank >= 1, identity layout) viewed as a matrix (rows, last dim).
Value asMatrix(OpBuilder &b, Location loc, Value buffer) {
  auto type = cast<MemRefType>(buffer.getType());
  int64_t rank = type.getRank();
  if (rank == 2)
    return buffer;
  if (rank == 1)
    return memref::ExpandShapeOp::create(
        b, loc, MemRefType::get({1, type.getDimSize(0)}, type.getElementType()),
        buffer, ArrayRef<ReassociationIndices>{{0, 1}},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1),
                               b.getIndexAttr(type.getDimSize(0))});
  ReassociationIndices leading;
  for (int64_t d = 0; d + 1 < rank; ++d)
    leading.push_back(d);
  return memref::CollapseShapeOp::create(
      b, loc, buffer,
      ArrayRef<ReassociationIndices>{leading, {rank - 1}});
}

Value convertVec(OpBuilder &b, Location loc, Value v, Type toElem) {
  auto from = cast<VectorType>(v.getType());
  if (from.getElementType() == toElem)
    return v;
  auto to = VectorType::get(from.getShape(), toElem);
  if (from.getElementTypeBitWidth() < to.getElementTypeBitWidth())
    return arith::ExtFOp::create(b, loc, to, v);
  if (from.getElementType().isF64() && to.getElementTypeBitWidth() < 32)
    v = arith::TruncFOp::create(
        b, loc, VectorType::get(from.getShape(), b.getF32Type()), v);
  return arith::TruncFOp::create(b, loc, to, v);
}

} // namespace

FailureOr<Value> mlir::rotor::buildVectorMatmul(OpBuilder &b, Location loc,
                                                Value x, Value w, Value bias,
                                                WeightLayout layout,
                                                RankedTensorType resultType) {
  auto xType = cast<RankedTensorType>(x.getType());
  auto wType = cast<RankedTensorType>(w.getType());
  if (xType.getRank() < 1 || !wType.hasStaticShape())
    return failure();
  bool nk = layout == WeightLayout::NK;
  int64_t n = wType.getDimSize(nk ? 0 : 1);
  int64_t k = wType.getDimSize(nk ? 1 : 0);
  Type elem = resultType.getElementType();
  FloatType acc = getAccumulationType(elem);
  const int64_t NB = kFeatureBlock;
  const int64_t MB = acc.isF64() ? 2 : 4;
  auto vec = VectorType::get({NB}, acc);

  // The packed weight block lives in the enclosing function's frame.
  Value wt;
  {
    OpBuilder::InsertionGuard guard(b);
    Operation *scope = b.getInsertionBlock()->getParentOp();
    if (!scope->hasTrait<OpTrait::AutomaticAllocationScope>())
      scope = scope->getParentWithTrait<OpTrait::AutomaticAllocationScope>();
    b.setInsertionPointToStart(&scope->getRegion(0).front());
    wt = memref::AllocaOp::create(b, loc, MemRefType::get({k, NB}, acc));
  }

  Value xb = asMatrix(b, loc, toBuffer(b, loc, x));
  Value wb = toBuffer(b, loc, w);
  Value bb = bias ? toBuffer(b, loc, bias) : Value();
  SmallVector<Value> outDyn;
  for (int64_t d = 0; d + 1 < resultType.getRank(); ++d)
    if (resultType.isDynamicDim(d))
      outDyn.push_back(getDimValue(b, loc, x, d));
  Value out = memref::AllocOp::create(
      b, loc, MemRefType::get(resultType.getShape(), elem), outDyn);
  Value out2 = asMatrix(b, loc, out);
  Value rows = memref::DimOp::create(b, loc, xb, 0);
  Value fullRows = arith::MulIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, rows, index(b, loc, MB)),
      index(b, loc, MB));
  Value zero = createFloatConstant(b, loc, acc, 0.0);
  Value nValue = index(b, loc, n);

  forLoop(b, loc, index(b, loc, 0), nValue, NB, [&](OpBuilder &ob, Location ol,
                                                    Value n0) {
    // Wt = W(:, n0 : n0 + NB), zero past N.
    forLoop(ob, ol, index(ob, ol, 0), index(ob, ol, NB), 1,
            [&](OpBuilder &jb, Location jl, Value j) {
              Value col = arith::AddIOp::create(jb, jl, n0, j);
              Value inside = arith::CmpIOp::create(
                  jb, jl, arith::CmpIPredicate::slt, col, nValue);
              auto ifOp = scf::IfOp::create(jb, jl, TypeRange{}, inside, true);
              {
                OpBuilder::InsertionGuard g(jb);
                jb.setInsertionPointToStart(ifOp.thenBlock());
                forLoop(jb, jl, index(jb, jl, 0), index(jb, jl, k), 1,
                        [&](OpBuilder &kb, Location kl, Value kk) {
                          Value v = memref::LoadOp::create(
                              kb, kl, wb,
                              nk ? ValueRange{col, kk} : ValueRange{kk, col});
                          memref::StoreOp::create(
                              kb, kl, convertFloat(kb, kl, v, acc), wt,
                              ValueRange{kk, j});
                        });
                jb.setInsertionPointToStart(ifOp.elseBlock());
                forLoop(jb, jl, index(jb, jl, 0), index(jb, jl, k), 1,
                        [&](OpBuilder &kb, Location kl, Value kk) {
                          memref::StoreOp::create(kb, kl, zero, wt,
                                                  ValueRange{kk, j});
                        });
              }
            });

    Value biasVec = vector::BroadcastOp::create(ob, ol, vec, zero);
    if (bb) {
      Type biasElem = cast<MemRefType>(bb.getType()).getElementType();
      Value pad = createFloatConstant(ob, ol, biasElem, 0.0);
      Value raw = vector::TransferReadOp::create(
          ob, ol, VectorType::get({NB}, biasElem), bb, ValueRange{n0}, pad,
          ArrayRef<bool>{false});
      biasVec = convertVec(ob, ol, raw, acc);
    }

    // `numRows` rows starting at m0: accumulate, then store (masked tail).
    auto kernel = [&](OpBuilder &rb, Location rl, Value m0, int64_t numRows) {
      SmallVector<Value> init(numRows, biasVec);
      SmallVector<Value> rowIdx;
      for (int64_t r = 0; r < numRows; ++r)
        rowIdx.push_back(arith::AddIOp::create(rb, rl, m0, index(rb, rl, r)));
      auto kLoop = scf::ForOp::create(
          rb, rl, index(rb, rl, 0), index(rb, rl, k), index(rb, rl, 1), init,
          [&](OpBuilder &kb, Location kl, Value kk, ValueRange accs) {
            Value wv = vector::LoadOp::create(kb, kl, vec, wt,
                                              ValueRange{kk, index(kb, kl, 0)});
            SmallVector<Value> next;
            for (int64_t r = 0; r < numRows; ++r) {
              Value xv = memref::LoadOp::create(kb, kl, xb,
                                                ValueRange{rowIdx[r], kk});
              xv = convertFloat(kb, kl, xv, acc);
              next.push_back(vector::FMAOp::create(
                  kb, kl, vector::BroadcastOp::create(kb, kl, vec, xv), wv,
                  accs[r]));
            }
            scf::YieldOp::create(kb, kl, next);
          });
      for (int64_t r = 0; r < numRows; ++r)
        vector::TransferWriteOp::create(
            rb, rl, convertVec(rb, rl, kLoop.getResult(r), elem), out2,
            ValueRange{rowIdx[r], n0}, ArrayRef<bool>{false});
    };
    forLoop(ob, ol, index(ob, ol, 0), fullRows, MB,
            [&](OpBuilder &rb, Location rl, Value m0) {
              kernel(rb, rl, m0, MB);
            });
    forLoop(ob, ol, fullRows, rows, 1,
            [&](OpBuilder &rb, Location rl, Value m0) {
              kernel(rb, rl, m0, 1);
            });
  });

  return bufferization::ToTensorOp::create(b, loc, resultType, out,
                                           /*restrict=*/b.getUnitAttr(),
                                           /*writable=*/b.getUnitAttr())
      .getResult();
}
