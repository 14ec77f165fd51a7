//===- MatmulKernel.cpp - A vectorized x · W loop nest for linear layers ---===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// y[m, n] = Σ_k x[m, k] · W(k, n) + bias[n] over the last dimension of x,
// for W given as (N, K) (linear, the PyTorch layout) or (K, N) (rotate).
//
//   for each block of NB output features (in parallel with parallel=true):
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
// With an RMS-norm prologue (weight g, epsilon eps), x is used as
// rms_norm(x, g) = r[m] · x[m, k] · g[k], r[m] = 1/sqrt(mean_k x[m, k]² + eps).
// Then y[m, n] = r[m] · Σ_k x[m, k] · (g[k] · W(k, n)) + bias[n]: g is
// multiplied into Wt as it is packed, Σ_k x[m, k]² accumulates beside the
// products from the same loads of x, and the accumulators are scaled by r[m]
// before the bias is added. No normalized copy of x is written.
//
//===----------------------------------------------------------------------===//

#include "rotor/Conversion/LoweringUtils.h"
#include "rotor/Conversion/MatmulKernel.h"

#include <cmath>

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Interfaces/FunctionInterfaces.h"

using namespace mlir;
using namespace mlir::rotor;

namespace {

/// Output features per block (the vector width of the accumulators).
constexpr int64_t kFeatureBlock = 64;

/// The largest packed weight panel (K x kFeatureBlock) kept on the stack:
/// K <= 4096 in f32. Larger panels (K = 14336 is 3.5 MiB) would overflow the
/// stacks of OpenMP worker threads, and a large enough K any stack, so they
/// go to the heap (freed by the buffer deallocation pipeline).
constexpr int64_t kMaxStackPanelBytes = int64_t(1) << 20;

/// A packed weight panel of `type`: on the stack when small enough.
Value allocatePanel(OpBuilder &b, Location loc, MemRefType type) {
  int64_t bytes = type.getNumElements() * type.getElementTypeBitWidth() / 8;
  if (bytes <= kMaxStackPanelBytes)
    return memref::AllocaOp::create(b, loc, type);
  return memref::AllocOp::create(b, loc, type);
}

Value index(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

/// The buffer of `tensor`, read by one kernel call.
///
/// Each to_buffer is tagged with its own `rotor.kernel_operand` number so
/// that CSE never merges two of them: the bufferization analysis sees a
/// kernel's read of the tensor only at its to_buffer, so two kernels
/// reading one tensor (a rotation shared by q and k, whose transposes are
/// CSE'd for the backward) through one merged to_buffer would let an
/// in-place write between the two calls clobber the second kernel's input.
Value toBuffer(OpBuilder &b, Location loc, Value tensor) {
  auto t = cast<RankedTensorType>(tensor.getType());
  auto op = bufferization::ToBufferOp::create(
      b, loc, MemRefType::get(t.getShape(), t.getElementType()), tensor,
      /*read_only=*/true);
  int64_t number = 0;
  if (auto fn = op->getParentOfType<FunctionOpInterface>())
    fn->walk([&](bufferization::ToBufferOp) { ++number; });
  op->setAttr("rotor.kernel_operand", b.getI64IntegerAttr(number));
  return op;
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

Value mlir::rotor::applyActivation(OpBuilder &b, Location loc, Activation act,
                                   Value v) {
  Type t = v.getType();
  auto c = [&](double x) {
    Type elem = getElementTypeOrSelf(t);
    Value s = createFloatConstant(b, loc, elem, x);
    return isa<VectorType>(t)
               ? vector::BroadcastOp::create(b, loc, t, s).getResult()
               : s;
  };
  switch (act) {
  case Activation::none:
    return v;
  case Activation::relu:
    return arith::MaximumFOp::create(b, loc, v, c(0.0));
  case Activation::silu: {
    // x * sigmoid(x) = x / (1 + exp(-x))
    Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, v));
    return arith::DivFOp::create(b, loc, v,
                                 arith::AddFOp::create(b, loc, c(1.0), e));
  }
  case Activation::gelu: {
    // x/2 · (1 + erf(x / sqrt(2)))
    Value erf = math::ErfOp::create(
        b, loc, arith::MulFOp::create(b, loc, v, c(M_SQRT1_2)));
    return arith::MulFOp::create(
        b, loc, arith::MulFOp::create(b, loc, v, c(0.5)),
        arith::AddFOp::create(b, loc, c(1.0), erf));
  }
  case Activation::gelu_tanh: {
    // x/2 · (1 + tanh(sqrt(2/pi) · (x + 0.044715 x³)))
    Value x3 = arith::MulFOp::create(
        b, loc, v, arith::MulFOp::create(b, loc, v, v));
    Value inner = arith::MulFOp::create(
        b, loc, c(0.7978845608028654),
        arith::AddFOp::create(b, loc, v,
                              arith::MulFOp::create(b, loc, c(0.044715), x3)));
    return arith::MulFOp::create(
        b, loc, arith::MulFOp::create(b, loc, v, c(0.5)),
        arith::AddFOp::create(b, loc, c(1.0),
                              math::TanhOp::create(b, loc, inner)));
  }
  }
  llvm_unreachable("unknown activation");
}

FailureOr<Value> mlir::rotor::buildVectorMatmul(OpBuilder &b, Location loc,
                                                Value x, Value w, Value bias,
                                                WeightLayout layout,
                                                RankedTensorType resultType,
                                                bool parallel,
                                                const MatmulEpilogue &epilogue) {
  auto xType = cast<RankedTensorType>(x.getType());
  auto wType = cast<RankedTensorType>(w.getType());
  if (xType.getRank() < 1 || !wType.hasStaticShape())
    return failure();
  if (epilogue.upWeight &&
      cast<RankedTensorType>(epilogue.upWeight.getType()) != wType)
    return failure();
  if (epilogue.normWeight &&
      !cast<RankedTensorType>(epilogue.normWeight.getType()).hasStaticShape())
    return failure();
  bool nk = layout == WeightLayout::NK;
  int64_t n = wType.getDimSize(nk ? 0 : 1);
  int64_t k = wType.getDimSize(nk ? 1 : 0);
  Type elem = resultType.getElementType();
  FloatType acc = getAccumulationType(elem);
  const int64_t NB = kFeatureBlock;
  // Two weights (gate and up) keep two sets of accumulators: fewer rows.
  const bool gated = static_cast<bool>(epilogue.upWeight);
  const int64_t MB = (acc.isF64() || gated) ? 2 : 4;
  auto vec = VectorType::get({NB}, acc);

  Value xb = asMatrix(b, loc, toBuffer(b, loc, x));
  Value wb = toBuffer(b, loc, w);
  Value bb = bias ? toBuffer(b, loc, bias) : Value();
  Value ub = gated ? toBuffer(b, loc, epilogue.upWeight) : Value();
  const bool normed = static_cast<bool>(epilogue.normWeight);
  Value gb = normed ? toBuffer(b, loc, epilogue.normWeight) : Value();
  Value resb = epilogue.residual
                   ? asMatrix(b, loc, toBuffer(b, loc, epilogue.residual))
                   : Value();
  SmallVector<Value> outDyn;
  for (int64_t d = 0; d + 1 < resultType.getRank(); ++d)
    if (resultType.isDynamicDim(d))
      outDyn.push_back(getDimValue(b, loc, x, d));
  Value out = memref::AllocOp::create(
      b, loc, MemRefType::get(resultType.getShape(), elem), outDyn);
  Value out2 = asMatrix(b, loc, out);
  auto wtType = MemRefType::get({k, NB}, acc);

  // One block of NB output features: pack W(:, n0 : n0 + NB) into `wt`, then
  // every row of x.
  auto emitBlock = [&](OpBuilder &ob, Location ol, Value n0, Value wt,
                       Value upt, Value xb, Value wb, Value ub, Value gb,
                       Value bb, Value resb, Value out2) {
    Value zero = createFloatConstant(ob, ol, acc, 0.0);
    Value nValue = index(ob, ol, n);
    Value rows = memref::DimOp::create(ob, ol, xb, 0);
    Value fullRows = arith::MulIOp::create(
        ob, ol, arith::DivUIOp::create(ob, ol, rows, index(ob, ol, MB)),
        index(ob, ol, MB));
    // Wt = W(:, n0 : n0 + NB), zero past N.
    auto pack = [&](Value weights, Value packed) {
      forLoop(ob, ol, index(ob, ol, 0), index(ob, ol, NB), 1,
              [&](OpBuilder &jb, Location jl, Value j) {
                Value col = arith::AddIOp::create(jb, jl, n0, j);
                Value inside = arith::CmpIOp::create(
                    jb, jl, arith::CmpIPredicate::slt, col, nValue);
                auto ifOp =
                    scf::IfOp::create(jb, jl, TypeRange{}, inside, true);
                OpBuilder::InsertionGuard g(jb);
                jb.setInsertionPointToStart(ifOp.thenBlock());
                forLoop(jb, jl, index(jb, jl, 0), index(jb, jl, k), 1,
                        [&](OpBuilder &kb, Location kl, Value kk) {
                          Value v = convertFloat(
                              kb, kl,
                              memref::LoadOp::create(
                                  kb, kl, weights,
                                  nk ? ValueRange{col, kk}
                                     : ValueRange{kk, col}),
                              acc);
                          if (gb)
                            v = arith::MulFOp::create(
                                kb, kl, v,
                                convertFloat(kb, kl,
                                             memref::LoadOp::create(
                                                 kb, kl, gb, ValueRange{kk}),
                                             acc));
                          memref::StoreOp::create(kb, kl, v, packed,
                                                  ValueRange{kk, j});
                        });
                jb.setInsertionPointToStart(ifOp.elseBlock());
                forLoop(jb, jl, index(jb, jl, 0), index(jb, jl, k), 1,
                        [&](OpBuilder &kb, Location kl, Value kk) {
                          memref::StoreOp::create(kb, kl, zero, packed,
                                                  ValueRange{kk, j});
                        });
              });
    };
    pack(wb, wt);
    if (gated)
      pack(ub, upt);

    Value biasVec = vector::BroadcastOp::create(ob, ol, vec, zero);
    if (bb) {
      Type biasElem = cast<MemRefType>(bb.getType()).getElementType();
      Value pad = createFloatConstant(ob, ol, biasElem, 0.0);
      Value raw = vector::TransferReadOp::create(
          ob, ol, VectorType::get({NB}, biasElem), bb, ValueRange{n0}, pad,
          ArrayRef<bool>{false});
      biasVec = convertVec(ob, ol, raw, acc);
    }

    // `numRows` rows starting at m0: accumulate, apply the epilogue, store
    // (masked tail).
    // With the norm prologue, the accumulators start at zero (the bias is
    // added after the scaling by r) and a sum of squares per row follows
    // them.
    Value zeroVec = vector::BroadcastOp::create(ob, ol, vec, zero);
    auto kernel = [&](OpBuilder &rb, Location rl, Value m0, int64_t numRows) {
      int64_t sets = gated ? 2 : 1;
      SmallVector<Value> init(numRows * sets, normed ? zeroVec : biasVec);
      if (normed)
        init.append(numRows, zero);
      SmallVector<Value> rowIdx;
      for (int64_t r = 0; r < numRows; ++r)
        rowIdx.push_back(arith::AddIOp::create(rb, rl, m0, index(rb, rl, r)));
      auto kLoop = scf::ForOp::create(
          rb, rl, index(rb, rl, 0), index(rb, rl, k), index(rb, rl, 1), init,
          [&](OpBuilder &kb, Location kl, Value kk, ValueRange accs) {
            SmallVector<Value> packedRows = {vector::LoadOp::create(
                kb, kl, vec, wt, ValueRange{kk, index(kb, kl, 0)})};
            if (gated)
              packedRows.push_back(vector::LoadOp::create(
                  kb, kl, vec, upt, ValueRange{kk, index(kb, kl, 0)}));
            SmallVector<Value> next, xs;
            for (int64_t r = 0; r < numRows; ++r) {
              Value xv = memref::LoadOp::create(kb, kl, xb,
                                                ValueRange{rowIdx[r], kk});
              xs.push_back(convertFloat(kb, kl, xv, acc));
              Value splat = vector::BroadcastOp::create(kb, kl, vec, xs[r]);
              for (int64_t w = 0; w < sets; ++w)
                next.push_back(vector::FMAOp::create(
                    kb, kl, splat, packedRows[w], accs[r * sets + w]));
            }
            // Σ x² of each row, from the same loads.
            if (normed)
              for (int64_t r = 0; r < numRows; ++r)
                next.push_back(math::FmaOp::create(
                    kb, kl, xs[r], xs[r], accs[numRows * sets + r]));
            scf::YieldOp::create(kb, kl, next);
          });
      // acc · r + bias, r = 1/sqrt(Σx² / K + eps), for the norm prologue.
      auto normalize = [&](Value accumulated, int64_t r) -> Value {
        if (!normed)
          return accumulated;
        Value mean = arith::DivFOp::create(
            rb, rl, kLoop.getResult(numRows * sets + r),
            createFloatConstant(rb, rl, acc, static_cast<double>(k)));
        Value rms = math::SqrtOp::create(
            rb, rl,
            arith::AddFOp::create(
                rb, rl, mean,
                createFloatConstant(rb, rl, acc, epilogue.normEpsilon)));
        Value scale = arith::DivFOp::create(
            rb, rl, createFloatConstant(rb, rl, acc, 1.0), rms);
        return vector::FMAOp::create(
            rb, rl, accumulated,
            vector::BroadcastOp::create(rb, rl, vec, scale), biasVec);
      };
      for (int64_t r = 0; r < numRows; ++r) {
        Value y = normalize(kLoop.getResult(r * sets), r);
        if (gated)
          y = arith::MulFOp::create(
              rb, rl, applyActivation(rb, rl, Activation::silu, y),
              normalize(kLoop.getResult(r * sets + 1), r));
        else
          y = applyActivation(rb, rl, epilogue.activation, y);
        if (resb) {
          Type resElem = cast<MemRefType>(resb.getType()).getElementType();
          Value res = vector::TransferReadOp::create(
              rb, rl, VectorType::get({NB}, resElem), resb,
              ValueRange{rowIdx[r], n0},
              createFloatConstant(rb, rl, resElem, 0.0),
              ArrayRef<bool>{false});
          y = arith::AddFOp::create(rb, rl, y, convertVec(rb, rl, res, acc));
        }
        vector::TransferWriteOp::create(rb, rl, convertVec(rb, rl, y, elem),
                                        out2, ValueRange{rowIdx[r], n0},
                                        ArrayRef<bool>{false});
      }
    };
    forLoop(ob, ol, index(ob, ol, 0), fullRows, MB,
            [&](OpBuilder &rb, Location rl, Value m0) {
              kernel(rb, rl, m0, MB);
            });
    forLoop(ob, ol, fullRows, rows, 1,
            [&](OpBuilder &rb, Location rl, Value m0) {
              kernel(rb, rl, m0, 1);
            });
  };

  int64_t numBlocks = (n + NB - 1) / NB;
  if (parallel) {
    // The feature blocks run in parallel; each calls a private function whose
    // frame holds its own packed block (the parallel body must stay free of
    // allocations and control flow for the OpenMP lowering).
    auto module = b.getInsertionBlock()->getParentOp()->getParentOfType<ModuleOp>();
    // The weights enter the parallel region (captured in a structure passed
    // to the OpenMP runtime) as descriptors with constant offset, sizes and
    // strides: the callers then need to pass only their pointers, and LLVM
    // drops the other descriptor fields from the signatures of the layer
    // functions, whose calls with hundreds of weights make the entries.
    auto staticView = [&](Value buffer) -> Value {
      if (!buffer)
        return buffer;
      auto type = cast<MemRefType>(buffer.getType());
      SmallVector<int64_t> strides(type.getRank(), 1);
      for (int64_t d = type.getRank() - 2; d >= 0; --d)
        strides[d] = strides[d + 1] * type.getDimSize(d + 1);
      // The layout spelled out (not the identity map), else the cast would
      // fold away.
      auto view = MemRefType::get(
          type.getShape(), type.getElementType(),
          StridedLayoutAttr::get(b.getContext(), /*offset=*/0, strides));
      return memref::ReinterpretCastOp::create(b, loc, view, buffer,
                                               /*offset=*/0, type.getShape(),
                                               strides);
    };
    wb = staticView(wb);
    ub = staticView(ub);
    gb = staticView(gb);
    bb = staticView(bb);
    SmallVector<Value> args = {xb, wb};
    if (ub)
      args.push_back(ub);
    if (gb)
      args.push_back(gb);
    if (bb)
      args.push_back(bb);
    if (resb)
      args.push_back(resb);
    args.push_back(out2);
    SmallVector<Type> types = llvm::to_vector(ValueRange(args).getTypes());
    types.push_back(b.getIndexType());
    func::FuncOp fn;
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToEnd(module.getBody());
      std::string name = "__rotor_matmul_block";
      for (unsigned i = 0; module.lookupSymbol(name); ++i)
        name = "__rotor_matmul_block_" + std::to_string(i);
      fn = func::FuncOp::create(b, loc, name, b.getFunctionType(types, {}));
      fn.setPrivate();
      Block *body = fn.addEntryBlock();
      b.setInsertionPointToStart(body);
      Value wt = allocatePanel(b, loc, wtType);
      Value upt = gated ? allocatePanel(b, loc, wtType) : Value();
      unsigned i = 0;
      Value fx = body->getArgument(i++), fw = body->getArgument(i++);
      Value fu = ub ? body->getArgument(i++) : Value();
      Value fg = gb ? body->getArgument(i++) : Value();
      Value fb = bb ? body->getArgument(i++) : Value();
      Value fr = resb ? body->getArgument(i++) : Value();
      Value fo = body->getArgument(i++);
      emitBlock(b, loc, body->getArgument(i), wt, upt, fx, fw, fu, fg, fb, fr,
                fo);
      func::ReturnOp::create(b, loc, ValueRange{});
    }
    scf::ParallelOp::create(
        b, loc, ValueRange{index(b, loc, 0)},
        ValueRange{index(b, loc, numBlocks)}, ValueRange{index(b, loc, 1)},
        [&](OpBuilder &pb, Location pl, ValueRange iv) {
          SmallVector<Value> callArgs(args);
          callArgs.push_back(
              arith::MulIOp::create(pb, pl, iv[0], index(pb, pl, NB)));
          func::CallOp::create(pb, pl, fn, callArgs);
        });
  } else {
    // One packed block in the enclosing function's frame, reused.
    Value wt, upt;
    {
      OpBuilder::InsertionGuard guard(b);
      Operation *scope = b.getInsertionBlock()->getParentOp();
      if (!scope->hasTrait<OpTrait::AutomaticAllocationScope>())
        scope = scope->getParentWithTrait<OpTrait::AutomaticAllocationScope>();
      b.setInsertionPointToStart(&scope->getRegion(0).front());
      wt = allocatePanel(b, loc, wtType);
      if (gated)
        upt = allocatePanel(b, loc, wtType);
    }
    forLoop(b, loc, index(b, loc, 0), index(b, loc, n), NB,
            [&](OpBuilder &ob, Location ol, Value n0) {
              emitBlock(ob, ol, n0, wt, upt, xb, wb, ub, gb, bb, resb, out2);
            });
  }

  return bufferization::ToTensorOp::create(b, loc, resultType, out,
                                           /*restrict=*/b.getUnitAttr(),
                                           /*writable=*/b.getUnitAttr())
      .getResult();
}
