//===- LowerAttention.cpp - Lower rotor.attention to a flash loop nest ------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// rotor.attention becomes a tiled, online-softmax loop nest on buffers:
//
//   for (b, h, query tile):
//     Qs = scale · q[b, h, tile]                       (BQ x D, zero padded)
//     for each key range the mask allows (global prefix, local range):
//       for each key tile of BK keys:
//         Kt = k[b, h / group, tile]ᵀ, Vs = v[...]      (D x BK, BK x Dv)
//         S = Qs · Kt                                  (BQ x BK, in vectors)
//         softcap, relative bias, mask (skipped for tiles that are full)
//         online softmax: m, l, O = O · e^(m_old - m) + P · Vs
//     out = O / l, lse = m + log l
//
// The key range of a query tile is computed from the mask (causal bound,
// window, dilation, chunk, global tokens), so the loop visits only key tiles
// with at least one visible key. Scratch is a few tiles per query tile, in
// the function's frame: memory is the output plus O(BQ · BK + (BQ + BK) · D).
//
// The micro-kernels keep their accumulators in vector values: S rows are
// vector<BK x f32> (a broadcast of one query element times a row of Kt per
// step), O rows are vector<Dv x f32>.
//
//===----------------------------------------------------------------------===//

#include "rotor/Conversion/LoweringUtils.h"
#include "rotor/Conversion/RotorToLinalg.h"
#include "rotor/Dialect/Rotor/RotorOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::rotor;

namespace {

/// Query rows whose S accumulators the QK micro-kernel keeps in registers.
constexpr int64_t kRowBlock = 4;

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
};

/// The scratch buffers of one query tile (see the file comment).
struct Scratch {
  Value qs; // BQ x D: the scaled query tile
  Value kt; // D x BK: the key tile, transposed
  Value vs; // BK x Dv: the value tile
  Value ps; // BQ x BK: probabilities of the current key tile
  Value os; // BQ x Dv: the output accumulator
  Value ms, ls, cs; // BQ: running max, running sum, correction factor
};

/// The visible-key predicate of a tile row as a vector<BK x i1>: query
/// position `qpos` (i32) against keys `kpos` (vector<BK x i32>).
Value buildMaskVector(KernelBuilder &kb, const AttentionConfig &cfg,
                      Value qpos, Value kpos) {
  OpBuilder &b = kb.b;
  Location loc = kb.loc;
  auto vecI32 = cast<VectorType>(kpos.getType());
  Type i32 = b.getI32Type();
  auto c = [&](int64_t v) {
    return kb.splat(vecI32, arith::ConstantIntOp::create(b, loc, v, 32));
  };
  Value p = kb.splat(vecI32, qpos);
  Value d = kb.sub(p, kpos);
  MaskAttr m = cfg.mask;
  auto vecI1 = VectorType::get(vecI32.getShape(), b.getI1Type());
  Value local = arith::ConstantOp::create(
      b, loc, vecI1, DenseElementsAttr::get(vecI1, true));
  int64_t n = m.getDilation();
  if (n > 1)
    local = kb.andI(local, kb.cmp(arith::CmpIPredicate::eq,
                                  arith::RemSIOp::create(b, loc, d, c(n)),
                                  c(0)));
  if (auto left = m.getWindowLeft())
    local = kb.andI(local,
                    kb.cmp(arith::CmpIPredicate::sle, d, c(*left * n)));
  if (auto right = m.getWindowRight())
    local = kb.andI(local, kb.cmp(arith::CmpIPredicate::sle, kb.sub(c(0), d),
                                  c(*right * n)));
  if (auto chunk = m.getChunk())
    local = kb.andI(local, kb.cmp(arith::CmpIPredicate::eq,
                                  kb.floorDiv(p, c(*chunk)),
                                  kb.floorDiv(kpos, c(*chunk))));
  if (int64_t g = m.getGlobal(); g > 0)
    local = kb.orI(
        local,
        kb.orI(kb.cmp(arith::CmpIPredicate::slt, kpos, c(g)),
               kb.andI(kb.cmp(arith::CmpIPredicate::sge, p, c(0)),
                       kb.cmp(arith::CmpIPredicate::slt, p, c(g)))));
  if (m.getCausal())
    local = kb.andI(local, kb.cmp(arith::CmpIPredicate::sge, d, c(0)));
  (void)i32;
  return local;
}

/// T5 relative position buckets of `rel = key - query` (vector<BK x i32>),
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
  auto cf = [&](double v) { return kb.splat(vecF64, kb.fconst(b.getF64Type(), v)); };
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

/// rotor.attention => flash-style loop nest (see the file comment).
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
    cfg.blockQ = llvm::alignTo(tiling.blockQ, kRowBlock);
    cfg.blockK = tiling.blockK;
    cfg.scale = op.getEffectiveScale();
    if (auto s = op.getSoftcap())
      cfg.softcap = s->convertToDouble();
    cfg.mask = op.getEffectiveMask();
    cfg.hasBias = static_cast<bool>(op.getBias());
    if (cfg.hasBias) {
      cfg.biasBuckets =
          cast<RankedTensorType>(op.getBias().getType()).getDimSize(1);
      if (ShapedType::isDynamic(cfg.biasBuckets))
        return rewriter.notifyMatchFailure(
            op, "attention lowering needs a static number of bias buckets");
      cfg.biasMaxDistance = op.getBiasMaxDistanceAttr().getInt();
    }
    cfg.returnLse = static_cast<bool>(op.getLse());

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

    Value batch = getDimValue(rewriter, loc, op.getQuery(), 0);
    Value heads = getDimValue(rewriter, loc, op.getQuery(), 1);
    Value seqQ = getDimValue(rewriter, loc, op.getQuery(), 2);
    Value kvHeads = getDimValue(rewriter, loc, op.getKey(), 1);
    Value seqK = getDimValue(rewriter, loc, op.getKey(), 2);

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
    // Scratch tiles, allocated once at the entry of the enclosing function
    // (static sizes, so they are part of its frame) and reused by every
    // query tile of the sequential loops below.
    Scratch scratch;
    {
      OpBuilder::InsertionGuard guard(rewriter);
      Operation *scope =
          op->getParentWithTrait<OpTrait::AutomaticAllocationScope>();
      rewriter.setInsertionPointToStart(&scope->getRegion(0).front());
      auto stackTile = [&](ArrayRef<int64_t> shape) {
        return memref::AllocaOp::create(rewriter, loc,
                                        MemRefType::get(shape, cfg.acc))
            .getResult();
      };
      const int64_t BQ = cfg.blockQ, BK = cfg.blockK;
      scratch.qs = stackTile({BQ, cfg.headDim});
      scratch.kt = stackTile({cfg.headDim, BK});
      scratch.vs = stackTile({BK, cfg.valueDim});
      scratch.ps = stackTile({BQ, BK});
      scratch.os = stackTile({BQ, cfg.valueDim});
      scratch.ms = stackTile({BQ});
      scratch.ls = stackTile({BQ});
      scratch.cs = stackTile({BQ});
    }
    forLoop(rewriter, loc, zero, batch, 1, [&](OpBuilder &b1, Location l1,
                                               Value bIdx) {
      forLoop(b1, l1, zero, heads, 1, [&](OpBuilder &b2, Location l2,
                                          Value hIdx) {
        forLoop(b2, l2, zero, numTiles, 1, [&](OpBuilder &b, Location l,
                                               Value tile) {
          emitQueryTile(b, l, cfg, scratch, q, k, v, bias, out, lse, bIdx,
                        hIdx, tile, group, seqQ, seqK);
        });
      });
    });

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
  /// The body of the parallel loop: one query tile of one (batch, head).
  void emitQueryTile(OpBuilder &b, Location loc, const AttentionConfig &cfg,
                     const Scratch &scratch, Value q, Value k, Value v,
                     Value bias, Value out, Value lse, Value bIdx, Value hIdx,
                     Value tile, Value group, Value seqQ, Value seqK) const {
    KernelBuilder kb(b, loc);
    const int64_t BQ = cfg.blockQ, BK = cfg.blockK, D = cfg.headDim,
                  DV = cfg.valueDim;
    Type acc = cfg.acc;
    Value qs = scratch.qs, kt = scratch.kt, vs = scratch.vs, ps = scratch.ps,
          os = scratch.os, ms = scratch.ms, ls = scratch.ls, cs = scratch.cs;

    auto vecD = VectorType::get({D}, acc);
    auto vecDV = VectorType::get({DV}, acc);
    auto vecBK = VectorType::get({BK}, acc);
    auto vecDElem = VectorType::get({D}, cfg.elem);
    auto vecDVElem = VectorType::get({DV}, cfg.elem);
    Value negInf = kb.fconst(acc, -std::numeric_limits<double>::infinity());
    Value fzero = kb.fconst(acc, 0.0);

    Value kvHead = kb.divUI(hIdx, group);
    Value q0 = kb.mul(tile, kb.idx(BQ));
    Value qn = kb.min(kb.idx(BQ), kb.sub(seqQ, q0));

    // Load the query tile, scaled, zero padded; reset the softmax state.
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
        row = convertVector(lb, ll, row, vecD);
        scf::YieldOp::create(
            lb, ll, ValueRange{arith::MulFOp::create(lb, ll, row, scaleVec)});
        lb.setInsertionPointToStart(ifOp.elseBlock());
        scf::YieldOp::create(lb, ll, ValueRange{lk.splat(vecD, fzero)});
      }
      vector::StoreOp::create(lb, ll, ifOp.getResult(0), qs,
                              ValueRange{r, lk.idx(0)});
      vector::StoreOp::create(lb, ll, lk.splat(vecDV, fzero), os,
                              ValueRange{r, lk.idx(0)});
      memref::StoreOp::create(lb, ll, negInf, ms, ValueRange{r});
      memref::StoreOp::create(lb, ll, fzero, ls, ValueRange{r});
    });

    // The key range of this query tile, from the mask. Positions are
    // signed: with more queries than keys the first queries sit before 0.
    MaskAttr m = cfg.mask;
    Value offset = kb.sub(seqK, seqQ);
    Value p0 = kb.add(q0, offset);
    Value p1 = kb.add(kb.add(q0, kb.sub(qn, kb.idx(1))), offset);
    Value lo = kb.idx(0), hi = seqK;
    Value causalHi = seqK;
    if (m.getCausal()) {
      causalHi = kb.min(seqK, kb.max(kb.add(p1, kb.idx(1)), kb.idx(0)));
      hi = causalHi;
    }
    int64_t n = m.getDilation();
    if (auto left = m.getWindowLeft())
      lo = kb.max(lo, kb.sub(p0, kb.idx(*left * n)));
    if (auto right = m.getWindowRight())
      hi = kb.min(hi, kb.add(p1, kb.idx(*right * n + 1)));
    if (auto chunk = m.getChunk()) {
      Value c = kb.idx(*chunk);
      lo = kb.max(lo, kb.mul(kb.floorDiv(p0, c), c));
      hi = kb.min(hi, kb.mul(kb.add(kb.floorDiv(p1, c), kb.idx(1)), c));
    }
    Value globalEnd = kb.idx(0);
    if (int64_t g = m.getGlobal(); g > 0) {
      // Queries among the first G positions see every key; the first G
      // keys are seen by every query.
      Value globalQuery =
          kb.andI(kb.cmp(arith::CmpIPredicate::slt, p0, kb.idx(g)),
                  kb.cmp(arith::CmpIPredicate::sge, p1, kb.idx(0)));
      lo = kb.select(globalQuery, kb.idx(0), lo);
      hi = kb.select(globalQuery, causalHi, hi);
      globalEnd = kb.min(kb.min(kb.idx(g), lo), causalHi);
    }
    lo = kb.min(lo, seqK);
    hi = kb.max(hi, lo);

    auto processRange = [&](Value start, Value end) {
      scf::ForOp::create(
          b, loc, start, end, kb.idx(BK), ValueRange{},
          [&](OpBuilder &lb, Location ll, Value k0, ValueRange) {
            emitKeyTile(lb, ll, cfg, k, v, bias, bIdx, hIdx, kvHead, k0, end,
                        p0, p1, qs, kt, vs, ps, os, ms, ls, cs);
            scf::YieldOp::create(lb, ll);
          });
    };
    if (m.getGlobal() > 0)
      processRange(kb.idx(0), globalEnd);
    processRange(lo, hi);

    // out = O / l, lse = m + log l (a row that saw no key: 0 and -inf).
    forLoop(b, loc, kb.idx(0), qn, 1, [&](OpBuilder &lb, Location ll,
                                          Value r) {
      KernelBuilder lk(lb, ll);
      Value sum = memref::LoadOp::create(lb, ll, ls, ValueRange{r});
      Value positive = arith::CmpFOp::create(lb, ll, arith::CmpFPredicate::OGT,
                                             sum, lk.fconst(acc, 0.0));
      Value inv = lk.select(
          positive,
          arith::DivFOp::create(lb, ll, lk.fconst(acc, 1.0), sum), fzero);
      Value o = vector::LoadOp::create(lb, ll, vecDV, os,
                                       ValueRange{r, lk.idx(0)});
      o = arith::MulFOp::create(lb, ll, o, lk.splat(vecDV, inv));
      Value qrow = lk.add(q0, r);
      vector::StoreOp::create(lb, ll, convertVector(lb, ll, o, vecDVElem), out,
                              ValueRange{bIdx, hIdx, qrow, lk.idx(0)});
      if (cfg.returnLse) {
        Value mx = memref::LoadOp::create(lb, ll, ms, ValueRange{r});
        Value logSum = arith::AddFOp::create(
            lb, ll, mx, math::LogOp::create(lb, ll, sum));
        memref::StoreOp::create(lb, ll, lk.select(positive, logSum, negInf),
                                lse, ValueRange{bIdx, hIdx, qrow});
      }
    });
  }

  /// One key tile [k0, min(k0 + BK, end)) of one query tile.
  void emitKeyTile(OpBuilder &b, Location loc, const AttentionConfig &cfg,
                   Value k, Value v, Value bias, Value bIdx, Value hIdx,
                   Value kvHead, Value k0, Value end, Value p0, Value p1,
                   Value qs, Value kt, Value vs, Value ps, Value os, Value ms,
                   Value ls, Value cs) const {
    KernelBuilder kb(b, loc);
    const int64_t BQ = cfg.blockQ, BK = cfg.blockK, D = cfg.headDim,
                  DV = cfg.valueDim;
    Type acc = cfg.acc;
    auto vecD = VectorType::get({D}, acc);
    auto vecDV = VectorType::get({DV}, acc);
    auto vecBK = VectorType::get({BK}, acc);
    auto vecDElem = VectorType::get({D}, cfg.elem);
    auto vecDVElem = VectorType::get({DV}, cfg.elem);
    Value fzero = kb.fconst(acc, 0.0);
    Value kn = kb.min(kb.idx(BK), kb.sub(end, k0));

    // Kt = kᵀ and Vs = v for this tile, zero padded past kn.
    forLoop(b, loc, kb.idx(0), kb.idx(BK), 1, [&](OpBuilder &lb, Location ll,
                                                  Value c) {
      KernelBuilder lk(lb, ll);
      Value inTile = lk.cmp(arith::CmpIPredicate::slt, c, kn);
      auto ifOp = scf::IfOp::create(lb, ll, TypeRange{vecD, vecDV}, inTile,
                                    true);
      {
        OpBuilder::InsertionGuard g(lb);
        lb.setInsertionPointToStart(ifOp.thenBlock());
        Value key = lk.add(k0, c);
        Value krow = vector::LoadOp::create(
            lb, ll, vecDElem, k, ValueRange{bIdx, kvHead, key, lk.idx(0)});
        Value vrow = vector::LoadOp::create(
            lb, ll, vecDVElem, v, ValueRange{bIdx, kvHead, key, lk.idx(0)});
        scf::YieldOp::create(lb, ll,
                             ValueRange{convertVector(lb, ll, krow, vecD),
                                        convertVector(lb, ll, vrow, vecDV)});
        lb.setInsertionPointToStart(ifOp.elseBlock());
        scf::YieldOp::create(
            lb, ll, ValueRange{lk.splat(vecD, fzero), lk.splat(vecDV, fzero)});
      }
      vector::StoreOp::create(lb, ll, ifOp.getResult(1), vs,
                              ValueRange{c, lk.idx(0)});
      Value krow = ifOp.getResult(0);
      for (int64_t d = 0; d < D; ++d) {
        Value e = vector::ExtractOp::create(lb, ll, krow, d);
        memref::StoreOp::create(lb, ll, e, kt, ValueRange{lk.idx(d), c});
      }
    });

    // Is every (query, key) pair of the tile visible? Then no mask test.
    Value full = tileIsFull(kb, cfg, k0, kn, p0, p1);

    // S = Qs · Kt, kRowBlock rows at a time, then the online softmax.
    forLoop(b, loc, kb.idx(0), kb.idx(BQ), kRowBlock, [&](OpBuilder &lb,
                                                          Location ll,
                                                          Value r0) {
      KernelBuilder lk(lb, ll);
      SmallVector<Value> init(kRowBlock, lk.splat(vecBK, fzero));
      auto dLoop = scf::ForOp::create(
          lb, ll, lk.idx(0), lk.idx(D), lk.idx(1), init,
          [&](OpBuilder &db, Location dl, Value d, ValueRange accs) {
            KernelBuilder dk(db, dl);
            Value krow =
                vector::LoadOp::create(db, dl, vecBK, kt, ValueRange{d, dk.idx(0)});
            SmallVector<Value> next;
            for (int64_t r = 0; r < kRowBlock; ++r) {
              Value qv = memref::LoadOp::create(
                  db, dl, qs, ValueRange{dk.add(r0, dk.idx(r)), d});
              next.push_back(vector::FMAOp::create(
                  db, dl, dk.splat(vecBK, qv), krow, accs[r]));
            }
            scf::YieldOp::create(db, dl, next);
          });
      for (int64_t r = 0; r < kRowBlock; ++r)
        emitSoftmaxRow(lb, ll, cfg, bias, hIdx, k0, kn, p0,
                       lk.add(r0, lk.idx(r)), dLoop.getResult(r), full, ps, ms,
                       ls, cs);
    });

    // O = O · corr + P · Vs, over the kn valid keys.
    forLoop(b, loc, kb.idx(0), kb.idx(BQ), 1, [&](OpBuilder &lb, Location ll,
                                                  Value r) {
      KernelBuilder lk(lb, ll);
      Value corr = memref::LoadOp::create(lb, ll, cs, ValueRange{r});
      Value o = vector::LoadOp::create(lb, ll, vecDV, os,
                                       ValueRange{r, lk.idx(0)});
      o = arith::MulFOp::create(lb, ll, o, lk.splat(vecDV, corr));
      auto cLoop = scf::ForOp::create(
          lb, ll, lk.idx(0), kn, lk.idx(1), ValueRange{o},
          [&](OpBuilder &cb, Location cl, Value c, ValueRange accs) {
            KernelBuilder ck(cb, cl);
            Value p = memref::LoadOp::create(cb, cl, ps, ValueRange{r, c});
            Value vrow = vector::LoadOp::create(cb, cl, vecDV, vs,
                                                ValueRange{c, ck.idx(0)});
            scf::YieldOp::create(
                cb, cl,
                ValueRange{vector::FMAOp::create(cb, cl, ck.splat(vecDV, p),
                                                 vrow, accs[0])});
          });
      vector::StoreOp::create(lb, ll, cLoop.getResult(0), os,
                              ValueRange{r, lk.idx(0)});
    });
  }

  /// Post-processes one row of scores and folds it into the running softmax
  /// state: softcap, bias, mask, then m, l, P and the correction factor.
  void emitSoftmaxRow(OpBuilder &b, Location loc, const AttentionConfig &cfg,
                      Value bias, Value hIdx, Value k0, Value kn, Value p0,
                      Value row, Value s, Value full, Value ps, Value ms,
                      Value ls, Value cs) const {
    KernelBuilder kb(b, loc);
    const int64_t BK = cfg.blockK;
    Type acc = cfg.acc;
    auto vecBK = VectorType::get({BK}, acc);
    auto vecI32 = VectorType::get({BK}, b.getI32Type());
    Value negInf = kb.fconst(acc, -std::numeric_limits<double>::infinity());

    if (cfg.softcap) {
      Value cap = kb.splat(vecBK, kb.fconst(acc, *cfg.softcap));
      s = arith::MulFOp::create(
          b, loc, cap,
          math::TanhOp::create(b, loc, arith::DivFOp::create(b, loc, s, cap)));
    }
    Type i32 = b.getI32Type();
    auto toI32 = [&](Value index) {
      return arith::IndexCastOp::create(b, loc, i32, index).getResult();
    };
    Value qpos = toI32(kb.add(p0, row));
    Value lanes = arith::IndexCastOp::create(
        b, loc, vecI32,
        vector::StepOp::create(b, loc, VectorType::get({BK}, b.getIndexType())));
    Value kpos = kb.add(kb.splat(vecI32, toI32(k0)), lanes);
    if (cfg.hasBias) {
      Value rel = kb.sub(kpos, kb.splat(vecI32, qpos));
      Value buckets = buildBiasBuckets(kb, cfg, rel);
      Type biasElem = cast<MemRefType>(bias.getType()).getElementType();
      auto vecBias = VectorType::get({BK}, biasElem);
      auto vecI1 = VectorType::get({BK}, b.getI1Type());
      Value all = arith::ConstantOp::create(
          b, loc, vecI1, DenseElementsAttr::get(vecI1, true));
      Value values = vector::GatherOp::create(
          b, loc, vecBias, bias, ValueRange{hIdx, kb.idx(0)}, buckets, all,
          kb.splat(vecBias, kb.fconst(biasElem, 0.0)));
      s = arith::AddFOp::create(b, loc, s, convertVector(b, loc, values, vecBK));
    }

    // Masked scores become -inf; so do the padding keys past kn. A full
    // tile has neither, and skips the test.
    auto ifOp = scf::IfOp::create(b, loc, TypeRange{vecBK}, full, true);
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(ifOp.thenBlock());
      scf::YieldOp::create(b, loc, ValueRange{s});
      b.setInsertionPointToStart(ifOp.elseBlock());
      Value visible = buildMaskVector(kb, cfg, qpos, kpos);
      Value inTile = kb.cmp(arith::CmpIPredicate::slt, lanes,
                            kb.splat(vecI32, toI32(kn)));
      visible = kb.andI(visible, inTile);
      scf::YieldOp::create(
          b, loc, ValueRange{kb.select(visible, s, kb.splat(vecBK, negInf))});
    }
    s = ifOp.getResult(0);

    Value mOld = memref::LoadOp::create(b, loc, ms, ValueRange{row});
    Value tileMax =
        vector::ReductionOp::create(b, loc, vector::CombiningKind::MAXIMUMF, s);
    Value mNew = arith::MaximumFOp::create(b, loc, mOld, tileMax);
    // While no key has been seen the maximum is -inf; subtract 0 instead so
    // that exp gives 0 rather than NaN.
    Value noneSeen =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, mNew, negInf);
    Value mSafe = kb.select(noneSeen, kb.fconst(acc, 0.0), mNew);
    Value p = math::ExpOp::create(
        b, loc, arith::SubFOp::create(b, loc, s, kb.splat(vecBK, mSafe)));
    Value corr =
        math::ExpOp::create(b, loc, arith::SubFOp::create(b, loc, mOld, mSafe));
    Value lOld = memref::LoadOp::create(b, loc, ls, ValueRange{row});
    Value rowSum =
        vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, p);
    Value lNew = arith::AddFOp::create(
        b, loc, arith::MulFOp::create(b, loc, lOld, corr), rowSum);
    memref::StoreOp::create(b, loc, lNew, ls, ValueRange{row});
    memref::StoreOp::create(b, loc, mNew, ms, ValueRange{row});
    memref::StoreOp::create(b, loc, corr, cs, ValueRange{row});
    vector::StoreOp::create(b, loc, p, ps, ValueRange{row, kb.idx(0)});
  }

  /// True (an i1 value) when every pair of queries [p0, p1] and keys
  /// [k0, k0 + kn) is visible and the tile has no padding keys.
  Value tileIsFull(KernelBuilder &kb, const AttentionConfig &cfg, Value k0,
                   Value kn, Value p0, Value p1) const {
    using P = arith::CmpIPredicate;
    MaskAttr m = cfg.mask;
    Value kLast = kb.add(k0, kb.sub(kn, kb.idx(1)));
    Value full = kb.cmp(P::eq, kn, kb.idx(cfg.blockK));
    if (m.getDilation() > 1)
      return kb.boolConst(false);
    if (m.getCausal())
      full = kb.andI(full, kb.cmp(P::sle, kLast, p0));
    if (auto left = m.getWindowLeft())
      full = kb.andI(full, kb.cmp(P::sle, kb.sub(p1, k0), kb.idx(*left)));
    if (auto right = m.getWindowRight())
      full = kb.andI(full, kb.cmp(P::sle, kb.sub(kLast, p0), kb.idx(*right)));
    if (auto chunk = m.getChunk()) {
      Value c = kb.idx(*chunk);
      Value chunkOf = kb.floorDiv(p0, c);
      for (Value pos : {p1, k0, kLast})
        full = kb.andI(full, kb.cmp(P::eq, kb.floorDiv(pos, c), chunkOf));
    }
    return full;
  }

  /// Widens or narrows a float vector to `to`.
  static Value convertVector(OpBuilder &b, Location loc, Value v,
                             VectorType to) {
    auto from = cast<VectorType>(v.getType());
    if (from == to)
      return v;
    if (from.getElementType().getIntOrFloatBitWidth() <
        to.getElementType().getIntOrFloatBitWidth())
      return arith::ExtFOp::create(b, loc, to, v);
    return arith::TruncFOp::create(b, loc, to, v);
  }

  /// An scf.for without iteration arguments.
  static void forLoop(OpBuilder &b, Location loc, Value lb, Value ub,
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

  AttentionTiling tiling;
};

} // namespace

void mlir::rotor::populateAttentionToLoopsPatterns(RewritePatternSet &patterns,
                                                   AttentionTiling tiling) {
  patterns.add<LowerAttention>(patterns.getContext(), tiling);
}
