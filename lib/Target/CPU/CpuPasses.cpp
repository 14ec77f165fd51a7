//===- CpuPasses.cpp - Passes of Rotor's CPU target -------------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//

#include "rotor/Target/CPU/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Approximation.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::rotor {
#define GEN_PASS_DEF_ROTORPREPAREENTRIES
#define GEN_PASS_DEF_ROTOREMITENTRYWRAPPERS
#define GEN_PASS_DEF_ROTORAPPROXIMATEMATH
#define GEN_PASS_DEF_ROTOREXPANDMEMREFCOPIES
#include "rotor/Target/CPU/Passes.h.inc"
} // namespace mlir::rotor

using namespace mlir;

namespace {

constexpr llvm::StringLiteral kCifacePrefix = "_mlir_ciface_";
constexpr llvm::StringLiteral kNumResultsAttr = "rotor.num_results";
constexpr llvm::StringLiteral kNameAttr = "rotor.name";

bool isSupportedElementType(Type t) {
  return t.isF16() || t.isBF16() || t.isF32() || t.isF64() ||
         t.isSignlessInteger(32) || t.isSignlessInteger(64);
}

struct PrepareEntries
    : rotor::impl::RotorPrepareEntriesBase<PrepareEntries> {
  void runOnOperation() override {
    bool ok = true;
    for (auto fn : getOperation().getOps<func::FuncOp>()) {
      if (fn.isPrivate() || fn.isExternal())
        continue;
      // Reports the first argument or result the ABI cannot express.
      auto check = [&](TypeRange types, StringRef what) {
        for (auto [i, t] : llvm::enumerate(types)) {
          auto rt = dyn_cast<RankedTensorType>(t);
          if (rt && isSupportedElementType(rt.getElementType()))
            continue;
          fn.emitError() << "entry point '" << fn.getSymName() << "' " << what
                         << " " << i << " has type " << t
                         << "; entry points take and return ranked tensors "
                            "of f16, bf16, f32, f64, i32 or i64";
          return false;
        }
        return true;
      };
      if (!check(fn.getArgumentTypes(), "argument") ||
          !check(fn.getResultTypes(), "result")) {
        ok = false;
        continue;
      }
      // Argument and result names were read into the manifest already; LLVM
      // has no use for them.
      // Inputs are read-only: weights come straight from a read-only mapping
      // and are shared by every call, so bufferization must copy rather than
      // write in place.
      for (unsigned i = 0; i < fn.getNumArguments(); ++i) {
        fn.removeArgAttr(i, kNameAttr);
        fn.setArgAttr(i, "bufferization.writable",
                      BoolAttr::get(&getContext(), false));
      }
      for (unsigned i = 0; i < fn.getNumResults(); ++i)
        fn.removeResultAttr(i, StringAttr::get(&getContext(), kNameAttr));
      fn->setAttr("llvm.emit_c_interface", UnitAttr::get(&getContext()));
      fn->setAttr(kNumResultsAttr,
                  IntegerAttr::get(IntegerType::get(&getContext(), 64),
                                   fn.getNumResults()));
    }
    if (!ok)
      signalPassFailure();
  }
};

struct EmitEntryWrappers
    : rotor::impl::RotorEmitEntryWrappersBase<EmitEntryWrappers> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    OpBuilder b(ctx);
    b.setInsertionPointToEnd(module.getBody());
    auto ptr = LLVM::LLVMPointerType::get(ctx);
    auto voidTy = LLVM::LLVMVoidType::get(ctx);
    Location loc = module.getLoc();

    SmallVector<LLVM::LLVMFuncOp> cifaces;
    for (auto fn : module.getOps<LLVM::LLVMFuncOp>())
      if (fn.getName().starts_with(kCifacePrefix) && !fn.isExternal())
        cifaces.push_back(fn);

    for (LLVM::LLVMFuncOp ciface : cifaces) {
      StringRef name = ciface.getName().drop_front(kCifacePrefix.size());
      auto orig = module.lookupSymbol<LLVM::LLVMFuncOp>(name);
      auto numResultsAttr =
          orig ? orig->getAttrOfType<IntegerAttr>(kNumResultsAttr) : nullptr;
      if (!numResultsAttr) {
        ciface.emitError() << "no entry point '" << name
                           << "' prepared by rotor-prepare-entries";
        return signalPassFailure();
      }
      int64_t numResults = numResultsAttr.getInt();
      int64_t numParams = ciface.getFunctionType().getNumParams();
      int64_t numInputs = numParams - (numResults > 0 ? 1 : 0);
      Type retType = orig.getFunctionType().getReturnType();

      auto wrapper = LLVM::LLVMFuncOp::create(
          b, loc, ("rotor_entry_" + name).str(),
          LLVM::LLVMFunctionType::get(voidTy, {ptr}));
      Block *body = wrapper.addEntryBlock(b);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(body);
      Value args = body->getArgument(0);
      auto slot = [&](int64_t i) -> Value {
        Value addr = LLVM::GEPOp::create(b, loc, ptr, ptr, args,
                                         ArrayRef<LLVM::GEPArg>{(int32_t)i});
        return LLVM::LoadOp::create(b, loc, ptr, addr);
      };
      SmallVector<Value> callArgs;
      Value resultStorage;
      if (numResults > 0) {
        Value one = LLVM::ConstantOp::create(b, loc, b.getI64Type(),
                                             b.getI64IntegerAttr(1));
        resultStorage = LLVM::AllocaOp::create(b, loc, ptr, retType, one);
        callArgs.push_back(resultStorage);
      }
      for (int64_t i = 0; i < numInputs; ++i)
        callArgs.push_back(slot(i));
      LLVM::CallOp::create(b, loc, ciface, callArgs);
      if (numResults > 0) {
        Value all = LLVM::LoadOp::create(b, loc, retType, resultStorage);
        for (int64_t j = 0; j < numResults; ++j) {
          Value desc =
              numResults == 1
                  ? all
                  : LLVM::ExtractValueOp::create(b, loc, all, j).getResult();
          LLVM::StoreOp::create(b, loc, desc, slot(numInputs + j));
        }
      }
      LLVM::ReturnOp::create(b, loc, ValueRange{});
    }

    // rotor_free(p): results were allocated with malloc.
    auto freeFn = module.lookupSymbol<LLVM::LLVMFuncOp>("free");
    if (!freeFn)
      freeFn = LLVM::LLVMFuncOp::create(
          b, loc, "free", LLVM::LLVMFunctionType::get(voidTy, {ptr}));
    auto rotorFree = LLVM::LLVMFuncOp::create(
        b, loc, "rotor_free", LLVM::LLVMFunctionType::get(voidTy, {ptr}));
    Block *body = rotorFree.addEntryBlock(b);
    b.setInsertionPointToStart(body);
    LLVM::CallOp::create(b, loc, freeFn, ValueRange{body->getArgument(0)});
    LLVM::ReturnOp::create(b, loc, ValueRange{});
  }
};

struct ApproximateMath
    : rotor::impl::RotorApproximateMathBase<ApproximateMath> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(
        patterns, MathPolynomialApproximationOptions{});
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

/// The vector width, in elements, for copying rows of `target` from
/// `source` (memrefs of equal element type): the largest of 16, 8, 4 and 2
/// that divides the static innermost size of both when both have unit
/// innermost stride, or 0 when their rows cannot be copied as vectors.
int64_t rowVectorWidth(MemRefType source, MemRefType target) {
  if (source.getRank() == 0 || target.getRank() == 0 ||
      source.getElementType() != target.getElementType() ||
      !VectorType::isValidElementType(source.getElementType()) ||
      !source.isLastDimUnitStride() || !target.isLastDimUnitStride())
    return 0;
  int64_t row = target.getShape().back();
  if (ShapedType::isDynamic(row) || source.getShape().back() != row)
    return 0;
  for (int64_t width : {16, 8, 4, 2})
    if (row % width == 0)
      return width;
  return 0;
}

/// Copies `source` into `target` row by row, the innermost dimension of
/// both (contiguous, of static size) with vector loads and stores of
/// `width` elements: target[i..., k] = source[sourceIndex(i...), k].
/// `sourceDim[d]` is the dimension of `source` that dimension d of `target`
/// iterates (the identity for a copy, the inverse permutation for a
/// transpose); the innermost dimensions correspond.
void copyRows(PatternRewriter &rewriter, Location loc, Value source,
              Value target, ArrayRef<int64_t> sourceDim, int64_t width) {
  auto targetType = cast<MemRefType>(target.getType());
  int64_t rank = targetType.getRank();
  Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
  Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
  SmallVector<Value> lbs(rank, zero), ubs, steps(rank, one);
  for (int64_t d = 0; d < rank; ++d)
    ubs.push_back(memref::DimOp::create(rewriter, loc, target, d));
  steps.back() = arith::ConstantIndexOp::create(rewriter, loc, width);
  auto vectorType = VectorType::get({width}, targetType.getElementType());
  scf::buildLoopNest(
      rewriter, loc, lbs, ubs, steps,
      [&](OpBuilder &b, Location loc, ValueRange ivs) {
        SmallVector<Value> sourceIvs(rank);
        for (int64_t d = 0; d < rank; ++d)
          sourceIvs[sourceDim[d]] = ivs[d];
        Value row = vector::LoadOp::create(b, loc, vectorType, source,
                                           sourceIvs);
        vector::StoreOp::create(b, loc, row, target, ivs);
      });
}

/// memref.copy(a, b) => vector loads and stores of the rows when both have
/// contiguous rows of a static size, else linalg.copy ins(a) outs(b).
struct CopyToLinalg : OpRewritePattern<memref::CopyOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(memref::CopyOp op,
                                PatternRewriter &rewriter) const override {
    auto source = cast<MemRefType>(op.getSource().getType());
    auto target = cast<MemRefType>(op.getTarget().getType());
    if (int64_t width = rowVectorWidth(source, target)) {
      copyRows(rewriter, op.getLoc(), op.getSource(), op.getTarget(),
               llvm::to_vector(llvm::seq<int64_t>(0, target.getRank())),
               width);
      rewriter.eraseOp(op);
      return success();
    }
    rewriter.replaceOpWithNewOp<linalg::CopyOp>(op, op.getSource(),
                                                op.getTarget());
    return success();
  }
};

/// linalg.copy and linalg.transpose on memrefs that keep the innermost
/// dimension innermost, with contiguous rows of a static size => vector
/// loads and stores of the rows. convert-linalg-to-loops would copy them
/// element by element, which LLVM then unrolls into long runs of scalar
/// loads and stores (one per element of every row: slow to compile, and
/// loop strength reduction chokes on them).
template <typename OpTy>
struct VectorizeRowCopy : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics())
      return rewriter.notifyMatchFailure(op, "not on buffers");
    Value source = op.getDpsInputOperand(0)->get();
    Value target = op.getDpsInitOperand(0)->get();
    auto targetType = cast<MemRefType>(target.getType());
    int64_t rank = targetType.getRank();
    SmallVector<int64_t> sourceDim =
        llvm::to_vector(llvm::seq<int64_t>(0, rank));
    if constexpr (std::is_same_v<OpTy, linalg::TransposeOp>)
      sourceDim = llvm::to_vector(op.getPermutation());
    if (rank == 0 || sourceDim.back() != rank - 1)
      return rewriter.notifyMatchFailure(op, "moves the innermost dimension");
    int64_t width =
        rowVectorWidth(cast<MemRefType>(source.getType()), targetType);
    if (width == 0)
      return rewriter.notifyMatchFailure(op, "rows not contiguous or static");
    copyRows(rewriter, op.getLoc(), source, target, sourceDim, width);
    rewriter.eraseOp(op);
    return success();
  }
};

struct ExpandMemrefCopies
    : rotor::impl::RotorExpandMemrefCopiesBase<ExpandMemrefCopies> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<CopyToLinalg, VectorizeRowCopy<linalg::CopyOp>,
                 VectorizeRowCopy<linalg::TransposeOp>>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
