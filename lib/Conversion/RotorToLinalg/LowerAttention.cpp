//===- LowerAttention.cpp - Lower rotor.attention to a flash loop nest ------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// rotor.attention becomes a tiled, online-softmax loop nest on buffers. The
// vectors run along the queries of a tile, so that the softmax statistics of
// every query are updated with vertical vector ops (no horizontal
// reductions) and K and V are read straight from their buffers:
//
//   for (b, h, query tile of BQ queries):
//     Qt = (scale · q[b, h, tile])ᵀ                     (D x BQ, zero padded)
//          (a fused rope rotates each row as it is loaded; a fused Givens
//          chain then rotates pairs of rows of Qt, a fused matrix R
//          multiplies it, Qt = scale · Rᵀ · Qt, before the scaling)
//     for each key range the mask allows (global prefix, local range):
//       for each key tile of BK keys:
//         Sᵀ[c] = Σ_d k[c, d] · Qt[d]                    (CB keys at a time)
//         softcap, relative bias, mask (skipped for tiles that are full)
//         m' = max(m, max_c Sᵀ[c]);  Pᵀ[c] = exp(Sᵀ[c] - m')
//         l = l · e^(m - m') + Σ_c Pᵀ[c]
//         Oᵀ[dv] = Oᵀ[dv] · e^(m - m') + Σ_c v[c, dv] · Pᵀ[c]
//     out = (Oᵀ / l)ᵀ,  lse = m + log l
//
// The key range of a query tile is computed from the mask (causal bound,
// window, dilation, chunk, global tokens), so the loop visits only key tiles
// with at least one visible key, and tiles whose every pair is visible skip
// the mask test. Scratch is a few tiles in the function's frame: memory is
// the output plus O(BQ · (D + Dv + BK)), never an S x S matrix.
//
//===----------------------------------------------------------------------===//

#include "rotor/Analysis/MaskTiling.h"
#include "rotor/Conversion/LoweringUtils.h"
#include "rotor/Conversion/RotorToLinalg.h"
#include "rotor/Dialect/Rotor/RotorOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/TypeUtilities.h"

#include <limits>

using namespace mlir;
using namespace mlir::rotor;

namespace {

/// Keys whose score vectors the QK micro-kernel keeps in registers.
constexpr int64_t kKeyBlock = 8;

/// Small helpers for index and vector arithmetic inside the kernel.
struct KernelBuilder {
  OpBuilder &b;
  Location loc;
  KernelBuilder(OpBuilder &b, Location loc) : b(b), loc(loc) {}

  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value min(Value x, Value y) { return arith::MinSIOp::create(b, loc, x, y); }
  Value max(Value x, Value y) { return arith::MaxSIOp::create(b, loc, x, y); }
  Value floorDiv(Value x, Value y) {
    return arith::FloorDivSIOp::create(b, loc, x, y);
  }
  Value divUI(Value x, Value y) { return arith::DivUIOp::create(b, loc, x, y); }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value andI(Value x, Value y) { return arith::AndIOp::create(b, loc, x, y); }
  Value orI(Value x, Value y) { return arith::OrIOp::create(b, loc, x, y); }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  Value fconst(Type t, double v) { return createFloatConstant(b, loc, t, v); }
  Value splat(VectorType t, Value scalar) {
    return vector::BroadcastOp::create(b, loc, t, scalar);
  }
  Value boolConst(bool v) {
    return arith::ConstantIntOp::create(b, loc, v ? 1 : 0, 1);
  }
  Value i32(Value index) {
    return arith::IndexCastOp::create(b, loc, b.getI32Type(), index);
  }
};

/// The arithmetic of the shared mask computations (MaskTiling.h), building
/// index and i1 values.
struct IRMaskArith {
  using Value = ::mlir::Value;
  KernelBuilder &kb;
  Value c(int64_t v) { return kb.idx(v); }
  Value add(Value x, Value y) { return kb.add(x, y); }
  Value sub(Value x, Value y) { return kb.sub(x, y); }
  Value mul(Value x, Value y) { return kb.mul(x, y); }
  Value min(Value x, Value y) { return kb.min(x, y); }
  Value max(Value x, Value y) { return kb.max(x, y); }
  Value floorDiv(Value x, Value y) { return kb.floorDiv(x, y); }
  Value lt(Value x, Value y) { return kb.cmp(arith::CmpIPredicate::slt, x, y); }
  Value le(Value x, Value y) { return kb.cmp(arith::CmpIPredicate::sle, x, y); }
  Value ge(Value x, Value y) { return kb.cmp(arith::CmpIPredicate::sge, x, y); }
  Value eq(Value x, Value y) { return kb.cmp(arith::CmpIPredicate::eq, x, y); }
  Value andI(Value x, Value y) { return kb.andI(x, y); }
  Value select(Value p, Value x, Value y) { return kb.select(p, x, y); }
  Value truth(bool v) { return kb.boolConst(v); }
};

/// Everything the kernel needs to know about one attention op.
struct AttentionConfig {
  Type elem;        // element type of q, k, v and the output
  FloatType acc;    // accumulation type (f32, or f64 for f64)
  int64_t headDim;  // D
  int64_t valueDim; // Dv
  int64_t blockQ;
  int64_t blockK;
  double scale;
  std::optional<double> softcap;
  MaskAttr mask;
  bool hasBias;
  int64_t biasBuckets;
  int64_t biasMaxDistance;
  bool returnLse;
  // Fused rotary embedding of the queries and/or the keys.
  bool ropeQ = false;
  bool ropeK = false;
  int64_t rotaryDim = 0;
  bool ropeInterleaved = false;
  // Fused query rotation: the number of Givens rotations and the matrix.
  int64_t givensQ = 0;
  bool rotateQ = false;
};

/// The buffers of the fused rotations: the cos/sin tables ((S, rd/2) or
/// (B, S, rd/2) buffers in the accumulation type) of the fused rope, null
/// for an unrotated side; the Givens chain of the queries as the (2N) i64
/// pair indices and the (N) cos/sin of its angles in the accumulation type;
/// the queries' D x D rotation matrix. Null when not fused.
struct RopeTables {
  Value qCos, qSin, kCos, kSin;
  Value gPairs, gCos, gSin, rotation;
  SmallVector<Value> values() const {
    SmallVector<Value> out;
    for (Value v : {qCos, qSin, kCos, kSin, gPairs, gCos, gSin, rotation})
      if (v)
        out.push_back(v);
    return out;
  }
};

/// The scratch buffers of one query tile (see the file comment), in the
/// accumulation type.
struct Scratch {
  Value qt; // D x BQ: the scaled query tile, transposed
  Value st; // BK x BQ: scores, then probabilities, of the key tile
  Value ot; // Dv x BQ: the output accumulator, transposed
  Value m;  // BQ: running maximum
  Value l;  // BQ: running sum
  Value kt; // BK x D: the rotated key tile (fused rope of the keys only)
  Value qr; // D x BQ: the query tile before the fused matrix (rotate_q only)
};

/// Rotates the pairs of the first `rotaryDim` features of `row` (vector<D>
/// in the accumulation type) of the token at `tableIdx` of the cos/sin
/// tables: (a, b) -> (a cos - b sin, b cos + a sin), as rotor.rope does.
Value rotateRow(OpBuilder &b, Location loc, const AttentionConfig &cfg,
                Value row, Value cosTable, Value sinTable,
                SmallVector<Value> tableIdx) {
  const int64_t rd = cfg.rotaryDim, half = rd / 2;
  if (rd == 0)
    return row;
  auto vecH = VectorType::get({half}, cfg.acc);
  tableIdx.push_back(arith::ConstantIndexOp::create(b, loc, 0));
  Value c = vector::LoadOp::create(b, loc, vecH, cosTable, tableIdx);
  Value s = vector::LoadOp::create(b, loc, vecH, sinTable, tableIdx);
  Value x1, x2;
  if (cfg.ropeInterleaved) {
    SmallVector<int64_t> even, odd;
    for (int64_t i = 0; i < half; ++i) {
      even.push_back(2 * i);
      odd.push_back(2 * i + 1);
    }
    x1 = vector::ShuffleOp::create(b, loc, row, row, even);
    x2 = vector::ShuffleOp::create(b, loc, row, row, odd);
  } else {
    x1 = vector::ExtractStridedSliceOp::create(b, loc, row, {0}, {half}, {1});
    x2 = vector::ExtractStridedSliceOp::create(b, loc, row, {half}, {half},
                                               {1});
  }
  auto mul = [&](Value x, Value y) {
    return arith::MulFOp::create(b, loc, x, y).getResult();
  };
  Value y1 = arith::SubFOp::create(b, loc, mul(x1, c), mul(x2, s));
  Value y2 = arith::AddFOp::create(b, loc, mul(x2, c), mul(x1, s));
  if (cfg.ropeInterleaved) {
    SmallVector<int64_t> mix;
    for (int64_t i = 0; i < half; ++i) {
      mix.push_back(i);
      mix.push_back(half + i);
    }
    Value pairs = vector::ShuffleOp::create(b, loc, y1, y2, mix);
    return vector::InsertStridedSliceOp::create(b, loc, pairs, row, {0}, {1});
  }
  row = vector::InsertStridedSliceOp::create(b, loc, y1, row, {0}, {1});
  return vector::InsertStridedSliceOp::create(b, loc, y2, row, {half}, {1});
}

/// The leading indices of token `token` in a cos/sin table: (token) or
/// (batch, token).
SmallVector<Value> tableIndices(Value table, Value bIdx, Value token) {
  if (cast<MemRefType>(table.getType()).getRank() == 3)
    return {bIdx, token};
  return {token};
}

/// T5 relative position buckets of `rel = key - query` (vector<BQ x i32>),
/// computed in f64 as the reference does.
Value buildBiasBuckets(KernelBuilder &kb, const AttentionConfig &cfg,
                       Value rel) {
  OpBuilder &b = kb.b;
  Location loc = kb.loc;
  auto vecI32 = cast<VectorType>(rel.getType());
  auto vecF64 = VectorType::get(vecI32.getShape(), b.getF64Type());
  auto c = [&](int64_t v) {
    return kb.splat(vecI32, arith::ConstantIntOp::create(b, loc, v, 32));
  };
  auto cf = [&](double v) {
    return kb.splat(vecF64, kb.fconst(b.getF64Type(), v));
  };
  bool bidirectional = !cfg.mask.getCausal();
  int64_t buckets = cfg.biasBuckets;
  Value ret = c(0), n;
  if (bidirectional) {
    buckets /= 2;
    ret = kb.select(kb.cmp(arith::CmpIPredicate::sgt, rel, c(0)), c(buckets),
                    c(0));
    n = math::AbsIOp::create(b, loc, rel);
  } else {
    n = kb.max(kb.sub(c(0), rel), c(0));
  }
  int64_t maxExact = buckets / 2;
  Value isSmall = kb.cmp(arith::CmpIPredicate::slt, n, c(maxExact));
  // max_exact + log(n / max_exact) / log(max_distance / max_exact)
  //             * (buckets - max_exact), truncated, capped at buckets - 1.
  Value nf = arith::SIToFPOp::create(b, loc, vecF64, n);
  Value logRatio = math::LogOp::create(
      b, loc, arith::DivFOp::create(b, loc, nf, cf(double(maxExact))));
  Value scaled = arith::MulFOp::create(
      b, loc,
      arith::DivFOp::create(
          b, loc, logRatio,
          cf(std::log(double(cfg.biasMaxDistance) / double(maxExact)))),
      cf(double(buckets - maxExact)));
  Value large = kb.add(c(maxExact),
                       arith::FPToSIOp::create(b, loc, vecI32, scaled));
  large = kb.min(large, c(buckets - 1));
  return kb.add(ret, kb.select(isSmall, n, large));
}

/// Widens or narrows a float scalar or vector to `to`.
Value convertTo(OpBuilder &b, Location loc, Value v, Type to) {
  Type from = v.getType();
  if (from == to)
    return v;
  if (getElementTypeOrSelf(from).getIntOrFloatBitWidth() <
      getElementTypeOrSelf(to).getIntOrFloatBitWidth())
    return arith::ExtFOp::create(b, loc, to, v);
  return arith::TruncFOp::create(b, loc, to, v);
}

/// The cos and sin of the Givens angles (N), formed in f64 and rounded to
/// `acc`, as two (N) tensors.
std::pair<Value, Value> buildGivensTables(OpBuilder &b, Location loc,
                                          Value angles, FloatType acc) {
  auto type = cast<RankedTensorType>(angles.getType());
  auto tableType = RankedTensorType::get(type.getShape(), acc);
  Value c = tensor::EmptyOp::create(b, loc, tableType, ValueRange{});
  Value s = tensor::EmptyOp::create(b, loc, tableType, ValueRange{});
  AffineMap id = b.getMultiDimIdentityMap(1);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{tableType, tableType}, ValueRange{angles},
      ValueRange{c, s}, {id, id, id}, parallelIterators(1),
      [&](OpBuilder &nb, Location l, ValueRange args) {
        Value t = convertTo(nb, l, args[0], nb.getF64Type());
        linalg::YieldOp::create(
            nb, l,
            ValueRange{convertTo(nb, l, math::CosOp::create(nb, l, t), acc),
                       convertTo(nb, l, math::SinOp::create(nb, l, t), acc)});
      });
  return {generic.getResult(0), generic.getResult(1)};
}

/// The largest of 8, 4, 2, 1 that divides `n`.
int64_t blockDividing(int64_t n) {
  for (int64_t b : {8, 4, 2})
    if (n % b == 0)
      return b;
  return 1;
}

/// The score settings of rotor.attention and rotor.attention_grad (scale,
/// softcap, mask, relative bias table); fails on a dynamic bucket count.
template <typename OpTy>
LogicalResult setScoreConfig(OpTy op, AttentionConfig &cfg) {
  cfg.scale = op.getEffectiveScale();
  if (auto s = op.getSoftcap())
    cfg.softcap = s->convertToDouble();
  cfg.mask = op.getEffectiveMask();
  cfg.hasBias = static_cast<bool>(op.getBias());
  if (cfg.hasBias) {
    cfg.biasBuckets =
        cast<RankedTensorType>(op.getBias().getType()).getDimSize(1);
    if (ShapedType::isDynamic(cfg.biasBuckets))
      return failure();
    cfg.biasMaxDistance = op.getBiasMaxDistanceAttr().getInt();
  }
  return success();
}

struct LowerAttention : OpRewritePattern<AttentionOp> {
  LowerAttention(MLIRContext *ctx, AttentionTiling tiling)
      : OpRewritePattern(ctx), tiling(tiling) {}

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    auto qType = op.getQuery().getType();
    auto vType = op.getValue().getType();
    AttentionConfig cfg;
    cfg.elem = qType.getElementType();
    cfg.acc = getAccumulationType(cfg.elem);
    cfg.headDim = qType.getDimSize(3);
    cfg.valueDim = vType.getDimSize(3);
    if (ShapedType::isDynamic(cfg.headDim) ||
        ShapedType::isDynamic(cfg.valueDim))
      return rewriter.notifyMatchFailure(
          op, "attention lowering needs static head dimensions");
    cfg.blockQ = tiling.blockQ;
    cfg.blockK = llvm::alignTo(tiling.blockK, kKeyBlock);
    if (failed(setScoreConfig(op, cfg)))
      return rewriter.notifyMatchFailure(
          op, "attention lowering needs a static number of bias buckets");
    cfg.returnLse = static_cast<bool>(op.getLse());
    cfg.ropeQ = static_cast<bool>(op.getQueryPositions());
    cfg.ropeK = static_cast<bool>(op.getKeyPositions());
    if (op.hasRope()) {
      cfg.rotaryDim = op.getEffectiveRopeRotaryDim();
      if (ShapedType::isDynamic(cfg.rotaryDim))
        return rewriter.notifyMatchFailure(
            op, "fused rope needs a static rotary dimension");
      cfg.ropeInterleaved =
          op.getEffectiveRopeLayout() == RopeLayout::interleaved;
    }
    if (op.getQueryGivensAngles())
      cfg.givensQ = op.getGivensQPairs()->size() / 2;
    cfg.rotateQ = static_cast<bool>(op.getQueryRotation());

    Location loc = op.getLoc();
    KernelBuilder kb(rewriter, loc);
    auto toBuffer = [&](Value t) -> Value {
      auto tt = cast<RankedTensorType>(t.getType());
      auto mt = MemRefType::get(tt.getShape(), tt.getElementType());
      return bufferization::ToBufferOp::create(rewriter, loc, mt, t,
                                               /*read_only=*/true);
    };
    Value q = toBuffer(op.getQuery());
    Value k = toBuffer(op.getKey());
    Value v = toBuffer(op.getValue());
    Value bias = cfg.hasBias ? toBuffer(op.getBias()) : Value();
    RopeTables rt;
    if (op.hasRope()) {
      RopeParams params{op.getRopeLearnedBase(),
                        op.getRopeBase() ? std::optional<double>(
                                               op.getRopeBase()->convertToDouble())
                                         : std::nullopt,
                        cfg.rotaryDim, op.getRopeScalingAttr()};
      if (Value pos = op.getQueryPositions()) {
        auto [c, s] = buildRopeTables(rewriter, loc, pos, params, cfg.acc);
        rt.qCos = toBuffer(c), rt.qSin = toBuffer(s);
      }
      if (Value pos = op.getKeyPositions()) {
        auto [c, s] = buildRopeTables(rewriter, loc, pos, params, cfg.acc);
        rt.kCos = toBuffer(c), rt.kSin = toBuffer(s);
      }
    }
    if (cfg.givensQ > 0) {
      auto [c, s] = buildGivensTables(rewriter, loc, op.getQueryGivensAngles(),
                                      cfg.acc);
      rt.gCos = toBuffer(c), rt.gSin = toBuffer(s);
      auto pairsType =
          RankedTensorType::get({2 * cfg.givensQ}, rewriter.getI64Type());
      rt.gPairs = toBuffer(arith::ConstantOp::create(
          rewriter, loc,
          DenseIntElementsAttr::get(pairsType, *op.getGivensQPairs())));
    }
    if (cfg.rotateQ)
      rt.rotation = toBuffer(op.getQueryRotation());

    Value batch = getDimValue(rewriter, loc, op.getQuery(), 0);
    Value heads = getDimValue(rewriter, loc, op.getQuery(), 1);
    Value seqQ = getDimValue(rewriter, loc, op.getQuery(), 2);
    Value kvHeads = getDimValue(rewriter, loc, op.getKey(), 1);
    Value seqK = getDimValue(rewriter, loc, op.getKey(), 2);
    // A static cache: only its first clamp(query_start + Sq, 0, Sk) rows
    // exist. The kernel takes the key count from seqK alone (the rows are
    // addressed through the buffers), so limiting it is all it needs.
    if (Value start = op.getQueryStart())
      seqK = clampedEnd(rewriter, loc,
                        extractIndexScalar(rewriter, loc, start), seqQ, seqK);

    auto outType = cast<RankedTensorType>(op.getOutput().getType());
    SmallVector<Value> outDyn;
    for (int64_t d = 0; d < 3; ++d)
      if (outType.isDynamicDim(d))
        outDyn.push_back(getDimValue(rewriter, loc, op.getQuery(), d));
    Value out = memref::AllocOp::create(
        rewriter, loc,
        MemRefType::get(outType.getShape(), outType.getElementType()), outDyn);
    Value lse;
    RankedTensorType lseType;
    if (cfg.returnLse) {
      lseType = cast<RankedTensorType>(op.getLse().getType());
      lse = memref::AllocOp::create(
          rewriter, loc,
          MemRefType::get(lseType.getShape(), lseType.getElementType()),
          outDyn);
    }

    Value group = kb.divUI(heads, kvHeads);
    Value numTiles = kb.divUI(kb.add(seqQ, kb.idx(cfg.blockQ - 1)),
                              kb.idx(cfg.blockQ));
    Value zero = kb.idx(0);
    if (tiling.parallel) {
      // One parallel loop over (batch, head, query tile) whose body calls a
      // private function holding one tile's work: the function's frame gives
      // each thread its own scratch tiles, and the parallel body stays free
      // of allocations and control flow (which the OpenMP lowering needs).
      func::FuncOp tileFn = createTileFunction(rewriter, op, cfg, q, k, v,
                                               bias, rt, out, lse);
      // The three loops are linearized into one, because the OpenMP
      // lowering distributes only the outermost loop of a nest (and the
      // batch is often 1).
      Value one = kb.idx(1);
      Value tilesPerBatch = kb.mul(heads, numTiles);
      Value total = kb.mul(batch, tilesPerBatch);
      scf::ParallelOp::create(
          rewriter, loc, ValueRange{zero}, ValueRange{total}, ValueRange{one},
          [&](OpBuilder &b, Location l, ValueRange iv) {
            KernelBuilder pk(b, l);
            Value bIdx = pk.divUI(iv[0], tilesPerBatch);
            Value rest = arith::RemUIOp::create(b, l, iv[0], tilesPerBatch);
            SmallVector<Value> ivs = {bIdx, pk.divUI(rest, numTiles),
                                      arith::RemUIOp::create(b, l, rest,
                                                             numTiles)};
            SmallVector<Value> args = {q, k, v};
            if (bias)
              args.push_back(bias);
            llvm::append_range(args, rt.values());
            args.push_back(out);
            if (lse)
              args.push_back(lse);
            llvm::append_range(args, ValueRange{ivs[0], ivs[1], ivs[2], group,
                                                seqQ, seqK});
            func::CallOp::create(b, l, tileFn, args);
          });
    } else {
      // Sequential loops; the scratch tiles are allocated once at the entry
      // of the enclosing function (static sizes: part of its frame).
      Scratch scratch;
      {
        OpBuilder::InsertionGuard guard(rewriter);
        Operation *scope =
            op->getParentWithTrait<OpTrait::AutomaticAllocationScope>();
        rewriter.setInsertionPointToStart(&scope->getRegion(0).front());
        scratch = allocateScratch(rewriter, loc, cfg);
      }
      forLoop(rewriter, loc, zero, batch, 1, [&](OpBuilder &b1, Location l1,
                                                 Value bIdx) {
        forLoop(b1, l1, zero, heads, 1, [&](OpBuilder &b2, Location l2,
                                            Value hIdx) {
          forLoop(b2, l2, zero, numTiles, 1, [&](OpBuilder &b, Location l,
                                                 Value tile) {
            emitQueryTile(b, l, cfg, scratch, q, k, v, bias, rt, out, lse, bIdx,
                          hIdx, tile, group, seqQ, seqK);
          });
        });
      });
    }

    SmallVector<Value> results;
    results.push_back(bufferization::ToTensorOp::create(
        rewriter, loc, outType, out, /*restrict=*/rewriter.getUnitAttr(),
        /*writable=*/rewriter.getUnitAttr()));
    if (cfg.returnLse)
      results.push_back(bufferization::ToTensorOp::create(
          rewriter, loc, lseType, lse, rewriter.getUnitAttr(),
          rewriter.getUnitAttr()));
    rewriter.replaceOp(op, results);
    return success();
  }

private:
  /// A private function @__rotor_attention_tile_N(q, k, v, [bias], out,
  /// [lse], b, h, tile, group, seqQ, seqK) that computes one query tile.
  func::FuncOp createTileFunction(PatternRewriter &rewriter, AttentionOp op,
                                  const AttentionConfig &cfg, Value q, Value k,
                                  Value v, Value bias, const RopeTables &rt,
                                  Value out, Value lse) const {
    Location loc = op.getLoc();
    auto module = op->getParentOfType<ModuleOp>();
    SmallVector<Type> types = {q.getType(), k.getType(), v.getType()};
    if (bias)
      types.push_back(bias.getType());
    for (Value t : rt.values())
      types.push_back(t.getType());
    types.push_back(out.getType());
    if (lse)
      types.push_back(lse.getType());
    types.append(6, rewriter.getIndexType());
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPointToEnd(module.getBody());
    std::string name = "__rotor_attention_tile";
    for (unsigned i = 0; module.lookupSymbol(name); ++i)
      name = "__rotor_attention_tile_" + std::to_string(i);
    auto fn = func::FuncOp::create(rewriter, loc, name,
                                   rewriter.getFunctionType(types, {}));
    fn.setPrivate();
    Block *body = fn.addEntryBlock();
    rewriter.setInsertionPointToStart(body);
    auto arg = [&, i = 0u]() mutable { return body->getArgument(i++); };
    Value fq = arg(), fk = arg(), fv = arg();
    Value fbias = bias ? arg() : Value();
    RopeTables frt;
    if (rt.qCos)
      frt.qCos = arg(), frt.qSin = arg();
    if (rt.kCos)
      frt.kCos = arg(), frt.kSin = arg();
    if (rt.gPairs)
      frt.gPairs = arg(), frt.gCos = arg(), frt.gSin = arg();
    if (rt.rotation)
      frt.rotation = arg();
    Value fout = arg();
    Value flse = lse ? arg() : Value();
    Value bIdx = arg(), hIdx = arg(), tile = arg(), group = arg(),
          seqQ = arg(), seqK = arg();
    Scratch scratch = allocateScratch(rewriter, loc, cfg);
    emitQueryTile(rewriter, loc, cfg, scratch, fq, fk, fv, fbias, frt, fout,
                  flse,
                  bIdx, hIdx, tile, group, seqQ, seqK);
    func::ReturnOp::create(rewriter, loc, ValueRange{});
    return fn;
  }

  /// The scratch tiles of one query tile, as allocas at the builder's point.
  static Scratch allocateScratch(OpBuilder &b, Location loc,
                                 const AttentionConfig &cfg) {
    auto stackTile = [&](ArrayRef<int64_t> shape) {
      return memref::AllocaOp::create(b, loc, MemRefType::get(shape, cfg.acc))
          .getResult();
    };
    const int64_t BQ = cfg.blockQ, BK = cfg.blockK;
    Scratch scratch;
    scratch.qt = stackTile({cfg.headDim, BQ});
    scratch.st = stackTile({BK, BQ});
    scratch.ot = stackTile({cfg.valueDim, BQ});
    scratch.m = stackTile({BQ});
    scratch.l = stackTile({BQ});
    if (cfg.ropeK)
      scratch.kt = stackTile({BK, cfg.headDim});
    if (cfg.rotateQ)
      scratch.qr = stackTile({cfg.headDim, BQ});
    return scratch;
  }

  /// One query tile of one (batch, head).
  void emitQueryTile(OpBuilder &b, Location loc, const AttentionConfig &cfg,
                     const Scratch &sc, Value q, Value k, Value v, Value bias,
                     const RopeTables &rt, Value out, Value lse, Value bIdx,
                     Value hIdx, Value tile,
                     Value group, Value seqQ, Value seqK) const {
    KernelBuilder kb(b, loc);
    const int64_t BQ = cfg.blockQ, D = cfg.headDim, DV = cfg.valueDim;
    Type acc = cfg.acc;
    auto vecQ = VectorType::get({BQ}, acc);
    auto vecD = VectorType::get({D}, acc);
    auto vecDElem = VectorType::get({D}, cfg.elem);
    Value negInf = kb.fconst(acc, -std::numeric_limits<double>::infinity());
    Value fzero = kb.fconst(acc, 0.0);

    Value kvHead = kb.divUI(hIdx, group);
    Value q0 = kb.mul(tile, kb.idx(BQ));
    Value qn = kb.min(kb.idx(BQ), kb.sub(seqQ, q0));

    // Qt = (scale · q)ᵀ, zero padded past qn; reset the softmax state. A
    // fused query rotation applies to the unscaled tile (in Qr when a
    // matrix follows), then scales it into Qt.
    bool rotated = cfg.givensQ > 0 || cfg.rotateQ;
    Value tileBuf = cfg.rotateQ ? sc.qr : sc.qt;
    Value scaleVec = kb.splat(vecD, kb.fconst(acc, cfg.scale));
    forLoop(b, loc, kb.idx(0), kb.idx(BQ), 1, [&](OpBuilder &lb, Location ll,
                                                  Value r) {
      KernelBuilder lk(lb, ll);
      Value inTile = lk.cmp(arith::CmpIPredicate::slt, r, qn);
      auto ifOp = scf::IfOp::create(lb, ll, TypeRange{vecD}, inTile, true);
      {
        OpBuilder::InsertionGuard g(lb);
        lb.setInsertionPointToStart(ifOp.thenBlock());
        Value row = vector::LoadOp::create(
            lb, ll, vecDElem, q,
            ValueRange{bIdx, hIdx, lk.add(q0, r), lk.idx(0)});
        row = convertTo(lb, ll, row, vecD);
        if (cfg.ropeQ)
          row = rotateRow(lb, ll, cfg, row, rt.qCos, rt.qSin,
                          tableIndices(rt.qCos, bIdx, lk.add(q0, r)));
        if (!rotated)
          row = arith::MulFOp::create(lb, ll, row, scaleVec);
        scf::YieldOp::create(lb, ll, ValueRange{row});
        lb.setInsertionPointToStart(ifOp.elseBlock());
        scf::YieldOp::create(lb, ll, ValueRange{lk.splat(vecD, fzero)});
      }
      for (int64_t d = 0; d < D; ++d)
        memref::StoreOp::create(
            lb, ll, vector::ExtractOp::create(lb, ll, ifOp.getResult(0), d),
            tileBuf, ValueRange{lk.idx(d), r});
    });
    if (rotated)
      emitQueryRotation(b, loc, cfg, sc, rt, tileBuf);
    vector::StoreOp::create(b, loc, kb.splat(vecQ, negInf), sc.m,
                            ValueRange{kb.idx(0)});
    vector::StoreOp::create(b, loc, kb.splat(vecQ, fzero), sc.l,
                            ValueRange{kb.idx(0)});
    forLoop(b, loc, kb.idx(0), kb.idx(DV), 1, [&](OpBuilder &lb, Location ll,
                                                  Value dv) {
      vector::StoreOp::create(lb, ll, KernelBuilder(lb, ll).splat(vecQ, fzero),
                              sc.ot, ValueRange{dv, KernelBuilder(lb, ll).idx(0)});
    });

    // The key range of this query tile, from the mask. Positions are
    // signed: with more queries than keys the first queries sit before 0.
    MaskAttr m = cfg.mask;
    Value offset = kb.sub(seqK, seqQ);
    Value p0 = kb.add(q0, offset);
    Value p1 = kb.add(kb.add(q0, kb.sub(qn, kb.idx(1))), offset);
    IRMaskArith ma{kb};
    KeyRange<Value> range = computeKeyRange(ma, m, p0, p1, seqK);

    // Positions of the tile's queries, for the mask and the bias.
    auto vecI32 = VectorType::get({BQ}, b.getI32Type());
    Value qpos = kb.add(
        kb.splat(vecI32, kb.i32(p0)),
        arith::IndexCastOp::create(
            b, loc, vecI32,
            vector::StepOp::create(b, loc,
                                   VectorType::get({BQ}, b.getIndexType()))));

    auto processRange = [&](Value start, Value end) {
      scf::ForOp::create(
          b, loc, start, end, kb.idx(cfg.blockK), ValueRange{},
          [&](OpBuilder &lb, Location ll, Value k0, ValueRange) {
            emitKeyTile(lb, ll, cfg, sc, k, v, bias, rt, bIdx, hIdx, kvHead, k0,
                        end, seqK, p0, p1, qpos);
            scf::YieldOp::create(lb, ll);
          });
    };
    if (m.getGlobal() > 0)
      processRange(kb.idx(0), range.globalEnd);
    processRange(range.lo, range.hi);

    // out = Oᵀ / l, lse = m + log l (a query that saw no key: 0 and -inf).
    Value sums = vector::LoadOp::create(b, loc, vecQ, sc.l, ValueRange{kb.idx(0)});
    Value positive = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                           sums, kb.splat(vecQ, fzero));
    Value inv = kb.select(positive,
                          arith::DivFOp::create(b, loc,
                                                kb.splat(vecQ, kb.fconst(acc, 1.0)),
                                                sums),
                          kb.splat(vecQ, fzero));
    forLoop(b, loc, kb.idx(0), kb.idx(DV), 1, [&](OpBuilder &lb, Location ll,
                                                  Value dv) {
      KernelBuilder lk(lb, ll);
      Value o = vector::LoadOp::create(lb, ll, vecQ, sc.ot,
                                       ValueRange{dv, lk.idx(0)});
      vector::StoreOp::create(lb, ll, arith::MulFOp::create(lb, ll, o, inv),
                              sc.ot, ValueRange{dv, lk.idx(0)});
    });
    Value lseVec;
    if (cfg.returnLse) {
      Value mx = vector::LoadOp::create(b, loc, vecQ, sc.m, ValueRange{kb.idx(0)});
      Value logSum =
          arith::AddFOp::create(b, loc, mx, math::LogOp::create(b, loc, sums));
      lseVec = kb.select(positive, logSum, kb.splat(vecQ, negInf));
      vector::StoreOp::create(b, loc, lseVec, sc.m, ValueRange{kb.idx(0)});
    }
    forLoop(b, loc, kb.idx(0), qn, 1, [&](OpBuilder &lb, Location ll,
                                          Value r) {
      KernelBuilder lk(lb, ll);
      Value qrow = lk.add(q0, r);
      forLoop(lb, ll, lk.idx(0), lk.idx(DV), 1, [&](OpBuilder &db, Location dl,
                                                    Value dv) {
        Value o = memref::LoadOp::create(db, dl, sc.ot, ValueRange{dv, r});
        memref::StoreOp::create(db, dl, convertTo(db, dl, o, cfg.elem), out,
                                ValueRange{bIdx, hIdx, qrow, dv});
      });
      if (cfg.returnLse)
        memref::StoreOp::create(
            lb, ll, memref::LoadOp::create(lb, ll, sc.m, ValueRange{r}), lse,
            ValueRange{bIdx, hIdx, qrow});
    });
  }

  /// The fused query rotation of the (unscaled, transposed) query tile in
  /// `tile`: the Givens rotations in order, each on two rows (vectors over
  /// the tile's queries), then Qt = scale · Rᵀ · tile with the matrix, or
  /// Qt = scale · tile without one.
  static void emitQueryRotation(OpBuilder &b, Location loc,
                                const AttentionConfig &cfg, const Scratch &sc,
                                const RopeTables &rt, Value tile) {
    KernelBuilder kb(b, loc);
    const int64_t BQ = cfg.blockQ, D = cfg.headDim;
    auto vecQ = VectorType::get({BQ}, cfg.acc);
    if (cfg.givensQ > 0) {
      // Rows i, j of the tile are features i, j of every query:
      //   (x_i, x_j) <- (x_i c - x_j s, x_i s + x_j c)
      forLoop(b, loc, kb.idx(0), kb.idx(cfg.givensQ), 1,
              [&](OpBuilder &lb, Location ll, Value r) {
                KernelBuilder lk(lb, ll);
                auto index = [&](Value pos) {
                  return arith::IndexCastOp::create(
                      lb, ll, lb.getIndexType(),
                      memref::LoadOp::create(lb, ll, rt.gPairs,
                                             ValueRange{pos}));
                };
                Value twoR = lk.mul(r, lk.idx(2));
                Value i = index(twoR), j = index(lk.add(twoR, lk.idx(1)));
                Value c = lk.splat(
                    vecQ, memref::LoadOp::create(lb, ll, rt.gCos, ValueRange{r}));
                Value s = lk.splat(
                    vecQ, memref::LoadOp::create(lb, ll, rt.gSin, ValueRange{r}));
                Value xi = vector::LoadOp::create(lb, ll, vecQ, tile,
                                                  ValueRange{i, lk.idx(0)});
                Value xj = vector::LoadOp::create(lb, ll, vecQ, tile,
                                                  ValueRange{j, lk.idx(0)});
                auto mul = [&](Value x, Value y) {
                  return arith::MulFOp::create(lb, ll, x, y).getResult();
                };
                Value yi = arith::SubFOp::create(lb, ll, mul(xi, c), mul(xj, s));
                Value yj = arith::AddFOp::create(lb, ll, mul(xi, s), mul(xj, c));
                vector::StoreOp::create(lb, ll, yi, tile,
                                        ValueRange{i, lk.idx(0)});
                vector::StoreOp::create(lb, ll, yj, tile,
                                        ValueRange{j, lk.idx(0)});
              });
    }
    Value scaleVec = kb.splat(vecQ, kb.fconst(cfg.acc, cfg.scale));
    if (!cfg.rotateQ) {
      forLoop(b, loc, kb.idx(0), kb.idx(D), 1, [&](OpBuilder &lb, Location ll,
                                                   Value d) {
        KernelBuilder lk(lb, ll);
        Value x = vector::LoadOp::create(lb, ll, vecQ, tile,
                                         ValueRange{d, lk.idx(0)});
        vector::StoreOp::create(lb, ll,
                                arith::MulFOp::create(lb, ll, x, scaleVec),
                                sc.qt, ValueRange{d, lk.idx(0)});
      });
      return;
    }
    // Qt[col] = scale · Σ_d R[d, col] · tile[d] (column col of x · R for
    // every query), CB columns at a time: each row of the tile is loaded
    // once per block and feeds CB independent accumulators.
    const int64_t CB = blockDividing(D);
    forLoop(b, loc, kb.idx(0), kb.idx(D), CB, [&](OpBuilder &lb, Location ll,
                                                  Value col0) {
      KernelBuilder lk(lb, ll);
      SmallVector<Value> init(CB, lk.splat(vecQ, lk.fconst(cfg.acc, 0.0)));
      auto dLoop = scf::ForOp::create(
          lb, ll, lk.idx(0), lk.idx(D), lk.idx(1), init,
          [&](OpBuilder &db, Location dl, Value d, ValueRange accs) {
            KernelBuilder dk(db, dl);
            Value x = vector::LoadOp::create(db, dl, vecQ, tile,
                                             ValueRange{d, dk.idx(0)});
            SmallVector<Value> next;
            for (int64_t c = 0; c < CB; ++c) {
              Value r = convertTo(
                  db, dl,
                  memref::LoadOp::create(
                      db, dl, rt.rotation,
                      ValueRange{d, dk.add(col0, dk.idx(c))}),
                  cfg.acc);
              next.push_back(vector::FMAOp::create(db, dl, dk.splat(vecQ, r),
                                                   x, accs[c]));
            }
            scf::YieldOp::create(db, dl, next);
          });
      for (int64_t c = 0; c < CB; ++c)
        vector::StoreOp::create(
            lb, ll, arith::MulFOp::create(lb, ll, dLoop.getResult(c), scaleVec),
            sc.qt, ValueRange{lk.add(col0, lk.idx(c)), lk.idx(0)});
    });
  }

  /// One key tile [k0, min(k0 + BK, end)) of one query tile.
  void emitKeyTile(OpBuilder &b, Location loc, const AttentionConfig &cfg,
                   const Scratch &sc, Value k, Value v, Value bias,
                   const RopeTables &rt, Value bIdx,
                   Value hIdx, Value kvHead, Value k0, Value end, Value seqK,
                   Value p0, Value p1, Value qpos) const {
    KernelBuilder kb(b, loc);
    const int64_t BQ = cfg.blockQ, BK = cfg.blockK, D = cfg.headDim,
                  DV = cfg.valueDim;
    Type acc = cfg.acc;
    auto vecQ = VectorType::get({BQ}, acc);
    Value fzero = kb.fconst(acc, 0.0);
    Value negInf = kb.fconst(acc, -std::numeric_limits<double>::infinity());
    Value kn = kb.min(kb.idx(BK), kb.sub(end, k0));
    Value lastKey = kb.sub(seqK, kb.idx(1));

    // Is every (query, key) pair of the tile visible? Then no mask test.
    IRMaskArith ma{kb};
    Value full = tileIsFull(ma, cfg.mask, k0, kn, cfg.blockK, p0, p1);

    // Fused rope of the keys: the tile's keys, rotated, into Kt (BK x D).
    // Rows past the end of the tile hold the last key (masked below).
    if (cfg.ropeK) {
      auto vecD = VectorType::get({D}, acc);
      auto vecDElem = VectorType::get({D}, cfg.elem);
      forLoop(b, loc, kb.idx(0), kb.idx(BK), 1, [&](OpBuilder &lb,
                                                    Location ll, Value c) {
        KernelBuilder lk(lb, ll);
        Value key = lk.min(lk.add(k0, c), lastKey);
        Value row = vector::LoadOp::create(
            lb, ll, vecDElem, k, ValueRange{bIdx, kvHead, key, lk.idx(0)});
        row = rotateRow(lb, ll, cfg, convertTo(lb, ll, row, vecD), rt.kCos,
                        rt.kSin, tableIndices(rt.kCos, bIdx, key));
        vector::StoreOp::create(lb, ll, row, sc.kt, ValueRange{c, lk.idx(0)});
      });
    }

    // Sᵀ[c] = Σ_d k[c, d] · Qt[d], kKeyBlock keys at a time. Keys past the
    // end of the tile read the last key (valid memory) and are masked.
    forLoop(b, loc, kb.idx(0), kb.idx(BK), kKeyBlock, [&](OpBuilder &lb,
                                                          Location ll,
                                                          Value c0) {
      KernelBuilder lk(lb, ll);
      SmallVector<Value> keys;
      for (int64_t c = 0; c < kKeyBlock; ++c)
        keys.push_back(lk.min(lk.add(k0, lk.add(c0, lk.idx(c))), lastKey));
      SmallVector<Value> init(kKeyBlock, lk.splat(vecQ, fzero));
      auto dLoop = scf::ForOp::create(
          lb, ll, lk.idx(0), lk.idx(D), lk.idx(1), init,
          [&](OpBuilder &db, Location dl, Value d, ValueRange accs) {
            KernelBuilder dk(db, dl);
            Value qv = vector::LoadOp::create(db, dl, vecQ, sc.qt,
                                              ValueRange{d, dk.idx(0)});
            SmallVector<Value> next;
            for (int64_t c = 0; c < kKeyBlock; ++c) {
              Value kval =
                  cfg.ropeK
                      ? memref::LoadOp::create(
                            db, dl, sc.kt,
                            ValueRange{dk.add(c0, dk.idx(c)), d})
                            .getResult()
                      : memref::LoadOp::create(
                            db, dl, k, ValueRange{bIdx, kvHead, keys[c], d})
                            .getResult();
              kval = convertTo(db, dl, kval, acc);
              next.push_back(vector::FMAOp::create(
                  db, dl, dk.splat(vecQ, kval), qv, accs[c]));
            }
            scf::YieldOp::create(db, dl, next);
          });
      for (int64_t c = 0; c < kKeyBlock; ++c) {
        Value col = lk.add(c0, lk.idx(c));
        Value s = postProcessScores(lk, cfg, bias, hIdx, lk.add(k0, col), col,
                                    kn, qpos, full, dLoop.getResult(c));
        vector::StoreOp::create(lb, ll, s, sc.st, ValueRange{col, lk.idx(0)});
      }
    });

    // Online softmax, vertically over the tile's keys.
    auto maxLoop = scf::ForOp::create(
        b, loc, kb.idx(0), kb.idx(BK), kb.idx(1),
        ValueRange{kb.splat(vecQ, negInf)},
        [&](OpBuilder &lb, Location ll, Value c, ValueRange it) {
          Value s = vector::LoadOp::create(lb, ll, vecQ, sc.st,
                                           ValueRange{c, KernelBuilder(lb, ll).idx(0)});
          scf::YieldOp::create(
              lb, ll, ValueRange{arith::MaximumFOp::create(lb, ll, it[0], s)});
        });
    Value mOld = vector::LoadOp::create(b, loc, vecQ, sc.m, ValueRange{kb.idx(0)});
    Value mNew = arith::MaximumFOp::create(b, loc, mOld, maxLoop.getResult(0));
    // While a query has seen no key its maximum is -inf; subtract 0 instead
    // so that exp gives 0 rather than NaN.
    Value noneSeen = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                           mNew, kb.splat(vecQ, negInf));
    Value mSafe = kb.select(noneSeen, kb.splat(vecQ, fzero), mNew);
    Value corr =
        math::ExpOp::create(b, loc, arith::SubFOp::create(b, loc, mOld, mSafe));
    auto sumLoop = scf::ForOp::create(
        b, loc, kb.idx(0), kb.idx(BK), kb.idx(1),
        ValueRange{kb.splat(vecQ, fzero)},
        [&](OpBuilder &lb, Location ll, Value c, ValueRange it) {
          KernelBuilder lk(lb, ll);
          Value s = vector::LoadOp::create(lb, ll, vecQ, sc.st,
                                           ValueRange{c, lk.idx(0)});
          Value p = math::ExpOp::create(lb, ll,
                                        arith::SubFOp::create(lb, ll, s, mSafe));
          vector::StoreOp::create(lb, ll, p, sc.st, ValueRange{c, lk.idx(0)});
          scf::YieldOp::create(lb, ll,
                               ValueRange{arith::AddFOp::create(lb, ll, it[0], p)});
        });
    Value lOld = vector::LoadOp::create(b, loc, vecQ, sc.l, ValueRange{kb.idx(0)});
    Value lNew = arith::AddFOp::create(
        b, loc, arith::MulFOp::create(b, loc, lOld, corr), sumLoop.getResult(0));
    vector::StoreOp::create(b, loc, lNew, sc.l, ValueRange{kb.idx(0)});
    vector::StoreOp::create(b, loc, mNew, sc.m, ValueRange{kb.idx(0)});

    // Oᵀ[dv] = Oᵀ[dv] · corr + Σ_c v[c, dv] · Pᵀ[c], over the kn valid keys,
    // a block of value features at a time.
    int64_t db = blockDividing(DV);
    forLoop(b, loc, kb.idx(0), kb.idx(DV), db, [&](OpBuilder &lb, Location ll,
                                                   Value dv0) {
      KernelBuilder lk(lb, ll);
      SmallVector<Value> dvs, init;
      for (int64_t j = 0; j < db; ++j) {
        dvs.push_back(lk.add(dv0, lk.idx(j)));
        Value o = vector::LoadOp::create(lb, ll, vecQ, sc.ot,
                                         ValueRange{dvs[j], lk.idx(0)});
        init.push_back(arith::MulFOp::create(lb, ll, o, corr));
      }
      auto cLoop = scf::ForOp::create(
          lb, ll, lk.idx(0), kn, lk.idx(1), init,
          [&](OpBuilder &cb, Location cl, Value c, ValueRange accs) {
            KernelBuilder ck(cb, cl);
            Value p = vector::LoadOp::create(cb, cl, vecQ, sc.st,
                                             ValueRange{c, ck.idx(0)});
            Value key = ck.add(k0, c);
            SmallVector<Value> next;
            for (int64_t j = 0; j < db; ++j) {
              Value vval = memref::LoadOp::create(
                  cb, cl, v, ValueRange{bIdx, kvHead, key, dvs[j]});
              vval = convertTo(cb, cl, vval, acc);
              next.push_back(vector::FMAOp::create(cb, cl, ck.splat(vecQ, vval),
                                                   p, accs[j]));
            }
            scf::YieldOp::create(cb, cl, next);
          });
      for (int64_t j = 0; j < db; ++j)
        vector::StoreOp::create(lb, ll, cLoop.getResult(j), sc.ot,
                                ValueRange{dvs[j], lk.idx(0)});
    });
  }

  /// Softcap, relative bias and mask of the scores `s` (vector<BQ>) of key
  /// `key` (tile column `col`): masked scores and padding keys become -inf.
  Value postProcessScores(KernelBuilder &kb, const AttentionConfig &cfg,
                          Value bias, Value hIdx, Value key, Value col,
                          Value kn, Value qpos, Value full, Value s) const {
    OpBuilder &b = kb.b;
    Location loc = kb.loc;
    auto vecQ = cast<VectorType>(s.getType());
    Type acc = cfg.acc;
    if (cfg.softcap) {
      Value cap = kb.splat(vecQ, kb.fconst(acc, *cfg.softcap));
      s = arith::MulFOp::create(
          b, loc, cap,
          math::TanhOp::create(b, loc, arith::DivFOp::create(b, loc, s, cap)));
    }
    Value kpos = kb.i32(key);
    if (cfg.hasBias) {
      auto vecI32 = cast<VectorType>(qpos.getType());
      Value rel = kb.sub(kb.splat(vecI32, kpos), qpos);
      Value buckets = buildBiasBuckets(kb, cfg, rel);
      Type biasElem = cast<MemRefType>(bias.getType()).getElementType();
      auto vecBias = VectorType::get(vecQ.getShape(), biasElem);
      auto vecI1 = VectorType::get(vecQ.getShape(), b.getI1Type());
      Value all = arith::ConstantOp::create(
          b, loc, vecI1, DenseElementsAttr::get(vecI1, true));
      Value values = vector::GatherOp::create(
          b, loc, vecBias, bias, ValueRange{hIdx, kb.idx(0)}, buckets, all,
          kb.splat(vecBias, kb.fconst(biasElem, 0.0)));
      s = arith::AddFOp::create(b, loc, s, convertTo(b, loc, values, vecQ));
    }
    auto ifOp = scf::IfOp::create(b, loc, TypeRange{vecQ}, full, true);
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(ifOp.thenBlock());
      scf::YieldOp::create(b, loc, ValueRange{s});
      b.setInsertionPointToStart(ifOp.elseBlock());
      Value visible = buildMaskPredicate(
          b, loc, cfg.mask, qpos, kb.splat(cast<VectorType>(qpos.getType()), kpos));
      auto vecI1 = VectorType::get(vecQ.getShape(), b.getI1Type());
      Value inTile = kb.splat(vecI1, kb.cmp(arith::CmpIPredicate::slt, col, kn));
      visible = kb.andI(visible, inTile);
      Value negInf = kb.splat(
          vecQ, kb.fconst(acc, -std::numeric_limits<double>::infinity()));
      scf::YieldOp::create(b, loc, ValueRange{kb.select(visible, s, negInf)});
    }
    return ifOp.getResult(0);
  }

  AttentionTiling tiling;
};

/// attention_grad(q, k, v, o, lse, do, [bias]) => loops on buffers:
///
///   dq, dk, dv, dbias = zeros (accumulation type)
///   for b, h, i (query), with kvh = h / group, qpos = i + Sk - Sq:
///     if lse[b, h, i] > -inf:
///       D = Σ_e do[i, e] o[i, e]
///       for j (key) visible from qpos (the forward's mask predicate):
///         raw = scale Σ_d q[i, d] k[j, d];  s = softcap(raw) + bias[h, bucket]
///         p = exp(s - lse);  ds = p (Σ_e do[i, e] v[j, e] - D)
///         dbias[h, bucket] += ds;  dr = ds (1 - tanh²) with softcap, else ds
///         dq[i] += scale dr k[j];  dk[j] += scale dr q[i];  dv[j] += p do[i]
///
/// Scalar loops over every (query, key) pair: memory is the outputs only,
/// never an (Sq, Sk) matrix. Key and value cotangents of a key/value head
/// accumulate over the query heads of its group.
struct LowerAttentionGrad : OpRewritePattern<AttentionGradOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionGradOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto qType = op.getQuery().getType();
    int64_t headDim = qType.getDimSize(3);
    int64_t valueDim = op.getValue().getType().getDimSize(3);
    if (ShapedType::isDynamic(headDim) || ShapedType::isDynamic(valueDim))
      return rewriter.notifyMatchFailure(
          op, "attention_grad lowering needs static head dimensions");
    AttentionConfig cfg{};
    cfg.elem = qType.getElementType();
    cfg.acc = getAccumulationType(cfg.elem);
    cfg.headDim = headDim;
    cfg.valueDim = valueDim;
    if (failed(setScoreConfig(op, cfg)))
      return rewriter.notifyMatchFailure(
          op, "attention_grad lowering needs a static number of buckets");
    FloatType acc = cfg.acc;
    KernelBuilder kb(rewriter, loc);
    auto toBuffer = [&](Value t) -> Value {
      auto tt = cast<RankedTensorType>(t.getType());
      return bufferization::ToBufferOp::create(
          rewriter, loc, MemRefType::get(tt.getShape(), tt.getElementType()),
          t, /*read_only=*/true);
    };
    Value q = toBuffer(op.getQuery()), k = toBuffer(op.getKey());
    Value v = toBuffer(op.getValue()), o = toBuffer(op.getOutput());
    Value lse = toBuffer(op.getLse()), dout = toBuffer(op.getGrad());
    Value bias = cfg.hasBias ? toBuffer(op.getBias()) : Value();

    // Zero-filled accumulators shaped like q, k, v and the bias table.
    auto zeros = [&](Value like) -> Value {
      auto tt = cast<RankedTensorType>(like.getType());
      SmallVector<Value> dyn;
      for (int64_t d = 0; d < tt.getRank(); ++d)
        if (tt.isDynamicDim(d))
          dyn.push_back(getDimValue(rewriter, loc, like, d));
      Value m = memref::AllocOp::create(
          rewriter, loc, MemRefType::get(tt.getShape(), acc), dyn);
      linalg::FillOp::create(rewriter, loc, kb.fconst(acc, 0.0), m);
      return m;
    };
    Value dq = zeros(op.getQuery()), dk = zeros(op.getKey());
    Value dv = zeros(op.getValue());
    Value dbias = cfg.hasBias ? zeros(op.getBias()) : Value();

    Value batch = getDimValue(rewriter, loc, op.getQuery(), 0);
    Value heads = getDimValue(rewriter, loc, op.getQuery(), 1);
    Value seqQ = getDimValue(rewriter, loc, op.getQuery(), 2);
    Value kvHeads = getDimValue(rewriter, loc, op.getKey(), 1);
    Value seqK = getDimValue(rewriter, loc, op.getKey(), 2);
    Value group = kb.divUI(heads, kvHeads);
    Value offset = kb.sub(seqK, seqQ);
    Value zero = kb.idx(0);
    auto vec1 = VectorType::get({1}, rewriter.getI32Type());

    // Σ_{e < n} body(e), in the accumulation type.
    auto sum = [&](OpBuilder &b, Location l, int64_t n,
                   function_ref<Value(OpBuilder &, Location, Value)> term) {
      auto loop = scf::ForOp::create(
          b, l, createIndexConstant(b, l, 0), createIndexConstant(b, l, n),
          createIndexConstant(b, l, 1),
          ValueRange{createFloatConstant(b, l, acc, 0.0)},
          [&](OpBuilder &lb, Location ll, Value e, ValueRange it) {
            Value t = term(lb, ll, e);
            scf::YieldOp::create(lb, ll,
                                 arith::AddFOp::create(lb, ll, it[0], t)
                                     .getResult());
          });
      return loop.getResult(0);
    };
    auto load = [&](OpBuilder &b, Location l, Value m, ValueRange idx) {
      return convertTo(b, l, memref::LoadOp::create(b, l, m, idx), acc);
    };
    // m[idx] += value
    auto addTo = [&](OpBuilder &b, Location l, Value m, ValueRange idx,
                     Value value) {
      Value cur = memref::LoadOp::create(b, l, m, idx);
      memref::StoreOp::create(b, l, arith::AddFOp::create(b, l, cur, value), m,
                              idx);
    };

    forLoop(rewriter, loc, zero, batch, 1, [&](OpBuilder &b1, Location l1,
                                               Value bi) {
      forLoop(b1, l1, zero, heads, 1, [&](OpBuilder &b2, Location l2,
                                          Value hi) {
        forLoop(b2, l2, zero, seqQ, 1, [&](OpBuilder &b, Location l,
                                           Value qi) {
          KernelBuilder k1(b, l);
          Value kvh = k1.divUI(hi, group);
          Value rowLse = load(b, l, lse, {bi, hi, qi});
          Value finite = arith::CmpFOp::create(
              b, l, arith::CmpFPredicate::OGT, rowLse,
              createFloatConstant(b, l, acc,
                                  -std::numeric_limits<double>::infinity()));
          auto ifOp = scf::IfOp::create(b, l, finite, /*withElse=*/false);
          OpBuilder tb = ifOp.getThenBodyBuilder();
          KernelBuilder kt(tb, l);
          Value dDot = sum(tb, l, valueDim, [&](OpBuilder &sb, Location sl,
                                                Value e) {
            return arith::MulFOp::create(sb, sl,
                                         load(sb, sl, dout, {bi, hi, qi, e}),
                                         load(sb, sl, o, {bi, hi, qi, e}))
                .getResult();
          });
          Value qpos = kt.add(qi, offset);
          Value qposI32 = kt.i32(qpos);
          forLoop(tb, l, zero, seqK, 1, [&](OpBuilder &b, Location l,
                                            Value kj) {
            KernelBuilder kk(b, l);
            Value kj32 = kk.i32(kj);
            Value visible =
                buildMaskPredicate(b, l, cfg.mask, qposI32, kj32);
            auto inner = scf::IfOp::create(b, l, visible, false);
            OpBuilder ib = inner.getThenBodyBuilder();
            KernelBuilder ki(ib, l);
            auto f = [&](double c) { return createFloatConstant(ib, l, acc, c); };
            Value raw = arith::MulFOp::create(
                ib, l,
                sum(ib, l, headDim,
                    [&](OpBuilder &sb, Location sl, Value d) {
                      return arith::MulFOp::create(
                                 sb, sl, load(sb, sl, q, {bi, hi, qi, d}),
                                 load(sb, sl, k, {bi, kvh, kj, d}))
                          .getResult();
                    }),
                f(cfg.scale));
            Value score = raw, t;
            if (cfg.softcap) {
              t = math::TanhOp::create(
                  ib, l, arith::DivFOp::create(ib, l, raw, f(*cfg.softcap)));
              score = arith::MulFOp::create(ib, l, t, f(*cfg.softcap));
            }
            Value bucket;
            if (cfg.hasBias) {
              Value rel = ki.sub(kj32, qposI32);
              Value rel1 = ki.splat(vec1, rel);
              bucket = arith::IndexCastOp::create(
                  ib, l, ib.getIndexType(),
                  vector::ExtractOp::create(
                      ib, l, buildBiasBuckets(ki, cfg, rel1),
                      ArrayRef<int64_t>{0}));
              score = arith::AddFOp::create(ib, l, score,
                                            load(ib, l, bias, {hi, bucket}));
            }
            Value p = math::ExpOp::create(
                ib, l, arith::SubFOp::create(ib, l, score, rowLse));
            Value dp = sum(ib, l, valueDim, [&](OpBuilder &sb, Location sl,
                                                Value e) {
              return arith::MulFOp::create(
                         sb, sl, load(sb, sl, dout, {bi, hi, qi, e}),
                         load(sb, sl, v, {bi, kvh, kj, e}))
                  .getResult();
            });
            Value ds = arith::MulFOp::create(
                ib, l, p, arith::SubFOp::create(ib, l, dp, dDot));
            if (cfg.hasBias)
              addTo(ib, l, dbias, {hi, bucket}, ds);
            Value dr = ds;
            if (cfg.softcap)
              dr = arith::MulFOp::create(
                  ib, l, ds,
                  arith::SubFOp::create(ib, l, f(1.0),
                                        arith::MulFOp::create(ib, l, t, t)));
            Value scaled = arith::MulFOp::create(ib, l, dr, f(cfg.scale));
            forLoop(ib, l, zero, ki.idx(headDim), 1,
                    [&](OpBuilder &db, Location dl, Value d) {
                      addTo(db, dl, dq, {bi, hi, qi, d},
                            arith::MulFOp::create(
                                db, dl, scaled,
                                load(db, dl, k, {bi, kvh, kj, d})));
                      addTo(db, dl, dk, {bi, kvh, kj, d},
                            arith::MulFOp::create(
                                db, dl, scaled,
                                load(db, dl, q, {bi, hi, qi, d})));
                    });
            forLoop(ib, l, zero, ki.idx(valueDim), 1,
                    [&](OpBuilder &db, Location dl, Value e) {
                      addTo(db, dl, dv, {bi, kvh, kj, e},
                            arith::MulFOp::create(
                                db, dl, p,
                                load(db, dl, dout, {bi, hi, qi, e})));
                    });
          });
        });
      });
    });

    // Back to tensors, narrowed to the operand types.
    SmallVector<Value> results;
    auto finish = [&](Value m, Type type) {
      auto tt = cast<RankedTensorType>(type);
      Value t = bufferization::ToTensorOp::create(
          rewriter, loc, tt.clone(acc), m, /*restrict=*/rewriter.getUnitAttr(),
          /*writable=*/rewriter.getUnitAttr());
      if (tt.getElementType() != acc)
        t = arith::TruncFOp::create(rewriter, loc, tt, t);
      results.push_back(t);
    };
    finish(dq, op.getQueryGrad().getType());
    finish(dk, op.getKeyGrad().getType());
    finish(dv, op.getValueGrad().getType());
    if (cfg.hasBias)
      finish(dbias, op.getBiasGrad().getType());
    rewriter.replaceOp(op, results);
    return success();
  }
};

} // namespace

void mlir::rotor::populateAttentionToLoopsPatterns(RewritePatternSet &patterns,
                                                   AttentionTiling tiling) {
  patterns.add<LowerAttention>(patterns.getContext(), tiling);
  patterns.add<LowerAttentionGrad>(patterns.getContext());
}
