//===- LowerElementwise.cpp - Lower elementwise ops and activations -------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Every op here becomes one parallel linalg.generic over the result. The
// body widens f16/bf16 operands to f32 (f64 stays f64), computes in that
// type and narrows only the value it yields, so that activations such as
// GELU and SiLU do not round their intermediates to 8 or 11 bits.
//
// add and mul broadcast as NumPy does, through the indexing maps: an operand
// dimension that is missing (leading) is dropped from its map, and a
// static size-1 dimension facing a result dimension that is not statically
// 1 reads index 0. A dynamic operand dimension is indexed with the loop
// variable: as in the verifier, its run-time size is assumed to equal the
// result's. Broadcasting a dimension that is only known at run time to be 1
// against a larger one (a "dynamic size-1 broadcast") is therefore not
// supported; give that dimension a static size of 1.
//
//===----------------------------------------------------------------------===//

#include "rotor/Conversion/LoweringUtils.h"
#include "rotor/Conversion/RotorToLinalg.h"
#include "rotor/Dialect/Rotor/RotorOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>

using namespace mlir;
using namespace mlir::rotor;

/// Computes one result element from the widened operand elements, in the
/// accumulation type.
using ScalarFn =
    function_ref<Value(OpBuilder &, Location, FloatType, ValueRange)>;

/// Builds `result[i] = narrow(fn(widen(inputs[maps[k](i)])...))` as a
/// parallel linalg.generic over a tensor of `resultType` whose sizes are
/// `sizes`.
static Value buildElementwise(OpBuilder &b, Location loc,
                              RankedTensorType resultType,
                              ArrayRef<OpFoldResult> sizes, ValueRange inputs,
                              ArrayRef<AffineMap> inputMaps, ScalarFn fn) {
  Type elem = resultType.getElementType();
  FloatType acc = getAccumulationType(elem);
  Value init = createEmpty(b, loc, resultType, sizes);
  SmallVector<AffineMap> maps(inputMaps);
  maps.push_back(b.getMultiDimIdentityMap(resultType.getRank()));
  auto generic = linalg::GenericOp::create(
      b, loc, resultType, inputs, init, maps,
      parallelIterators(resultType.getRank()),
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        SmallVector<Value> wide;
        for (Value arg : args.drop_back())
          wide.push_back(convertFloat(nb, nl, arg, acc));
        Value r = fn(nb, nl, acc, wide);
        linalg::YieldOp::create(nb, nl, convertFloat(nb, nl, r, elem));
      });
  return generic.getResult(0);
}

/// Lowers an op whose operands all have the type of its result.
static Value buildSameShape(OpBuilder &b, Location loc, ValueRange inputs,
                            ScalarFn fn) {
  Value first = inputs.front();
  auto type = cast<RankedTensorType>(first.getType());
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < type.getRank(); ++d)
    sizes.push_back(getDim(b, loc, first, d));
  SmallVector<AffineMap> maps(inputs.size(),
                              b.getMultiDimIdentityMap(type.getRank()));
  return buildElementwise(b, loc, type, sizes, inputs, maps, fn);
}

/// `x * sigmoid(x)` as `x / (1 + e)` for x >= 0 and `x * e / (1 + e)` for
/// x < 0, with `e = exp(-|x|)`: the exponential never overflows, so the tail
/// x -> -inf keeps its relative accuracy (with `exp(-x)` it would round to
/// -0 from x = -88 on in f32).
static Value buildSilu(OpBuilder &b, Location loc, FloatType acc, Value x) {
  Value zero = createFloatConstant(b, loc, acc, 0.0);
  Value one = createFloatConstant(b, loc, acc, 1.0);
  Value e = math::ExpOp::create(
      b, loc, arith::NegFOp::create(b, loc, math::AbsFOp::create(b, loc, x)));
  Value nonNegative =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGE, x, zero);
  Value numerator = arith::MulFOp::create(
      b, loc, x, arith::SelectOp::create(b, loc, nonNegative, one, e));
  Value denominator = arith::AddFOp::create(b, loc, one, e);
  return arith::DivFOp::create(b, loc, numerator, denominator);
}

namespace {

/// Builds a NumPy-broadcasting binary op.
///
/// Operand dimension `i` of an operand of rank `r` faces result dimension
/// `i + R - r`; its map result is the constant 0 when the operand is
/// statically 1 there and the result is not, the loop dimension otherwise.
template <typename RotorOpTy, typename ArithOpTy>
struct LowerBroadcastingBinary : OpRewritePattern<RotorOpTy> {
  using OpRewritePattern<RotorOpTy>::OpRewritePattern;

  LogicalResult matchAndRewrite(RotorOpTy op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto resultType = cast<RankedTensorType>(op.getResult().getType());
    int64_t rank = resultType.getRank();
    Value operands[] = {op.getLhs(), op.getRhs()};

    SmallVector<AffineMap> maps;
    for (Value operand : operands) {
      auto type = cast<RankedTensorType>(operand.getType());
      int64_t offset = rank - type.getRank();
      SmallVector<AffineExpr> exprs;
      for (int64_t i = 0; i < type.getRank(); ++i) {
        int64_t dim = i + offset;
        if (type.getDimSize(i) == 1 && resultType.getDimSize(dim) != 1)
          exprs.push_back(rewriter.getAffineConstantExpr(0));
        else
          exprs.push_back(rewriter.getAffineDimExpr(dim));
      }
      maps.push_back(AffineMap::get(rank, 0, exprs, rewriter.getContext()));
    }

    // A dynamic result size comes from an operand that is dynamic there (a
    // static operand size would have made the result static, or is a
    // broadcast 1).
    SmallVector<OpFoldResult> sizes;
    for (int64_t dim = 0; dim < rank; ++dim) {
      if (!resultType.isDynamicDim(dim)) {
        sizes.push_back(rewriter.getIndexAttr(resultType.getDimSize(dim)));
        continue;
      }
      OpFoldResult size;
      for (Value operand : operands) {
        auto type = cast<RankedTensorType>(operand.getType());
        int64_t i = dim - (rank - type.getRank());
        if (i >= 0 && type.isDynamicDim(i)) {
          size = getDim(rewriter, loc, operand, i);
          break;
        }
      }
      if (!size)
        return rewriter.notifyMatchFailure(
            op, "dynamic result dimension without a dynamic operand dimension");
      sizes.push_back(size);
    }

    Value result = buildElementwise(
        rewriter, loc, resultType, sizes, ValueRange(operands), maps,
        [](OpBuilder &b, Location l, FloatType, ValueRange args) -> Value {
          return ArithOpTy::create(b, l, args[0], args[1]);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// relu(x) => generic { maximumf(x, 0) }
///
/// maximumf propagates NaN, as torch.relu does.
struct LowerRelu : OpRewritePattern<ReluOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ReluOp op,
                                PatternRewriter &rewriter) const override {
    auto relu = [](OpBuilder &b, Location loc, FloatType acc,
                   ValueRange args) -> Value {
      Value zero = createFloatConstant(b, loc, acc, 0.0);
      return arith::MaximumFOp::create(b, loc, args[0], zero);
    };
    rewriter.replaceOp(
        op, buildSameShape(rewriter, op.getLoc(), op.getInput(), relu));
    return success();
  }
};

/// silu(x) => generic { e = exp(-|x|); x * (x >= 0 ? 1 : e) / (1 + e) }
struct LowerSilu : OpRewritePattern<SiluOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(SiluOp op,
                                PatternRewriter &rewriter) const override {
    auto silu = [](OpBuilder &b, Location loc, FloatType acc, ValueRange args) {
      return buildSilu(b, loc, acc, args[0]);
    };
    rewriter.replaceOp(
        op, buildSameShape(rewriter, op.getLoc(), op.getInput(), silu));
    return success();
  }
};

/// gelu(x) => generic { x/2 * (1 + erf(x / sqrt(2))) }             (none)
/// gelu(x) => generic { x/2 * (1 + tanh(sqrt(2/pi) (x + c x^3))) } (tanh)
///
/// with c = 0.044715.
struct LowerGelu : OpRewritePattern<GeluOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(GeluOp op,
                                PatternRewriter &rewriter) const override {
    bool useTanh = op.getApproximate() == GeluApproximation::tanh;
    auto gelu = [&](OpBuilder &b, Location loc, FloatType acc,
                    ValueRange args) -> Value {
      Value x = args[0];
      auto cst = [&](double v) { return createFloatConstant(b, loc, acc, v); };
      Value inner;
      if (useTanh) {
        Value x3 = arith::MulFOp::create(b, loc, x,
                                         arith::MulFOp::create(b, loc, x, x));
        Value poly = arith::AddFOp::create(
            b, loc, x, arith::MulFOp::create(b, loc, cst(0.044715), x3));
        inner = math::TanhOp::create(
            b, loc,
            arith::MulFOp::create(b, loc, cst(std::sqrt(2.0 / M_PI)), poly));
      } else {
        inner = math::ErfOp::create(
            b, loc, arith::MulFOp::create(b, loc, x, cst(M_SQRT1_2)));
      }
      Value half = arith::MulFOp::create(b, loc, cst(0.5), x);
      Value onePlus = arith::AddFOp::create(b, loc, cst(1.0), inner);
      return arith::MulFOp::create(b, loc, half, onePlus);
    };
    rewriter.replaceOp(
        op, buildSameShape(rewriter, op.getLoc(), op.getInput(), gelu));
    return success();
  }
};

/// swiglu(gate, up) => generic { silu(gate) * up }
struct LowerSwiglu : OpRewritePattern<SwigluOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(SwigluOp op,
                                PatternRewriter &rewriter) const override {
    auto swiglu = [](OpBuilder &b, Location loc, FloatType acc,
                     ValueRange args) -> Value {
      Value gate = buildSilu(b, loc, acc, args[0]);
      return arith::MulFOp::create(b, loc, gate, args[1]);
    };
    rewriter.replaceOp(op, buildSameShape(rewriter, op.getLoc(),
                                          ValueRange{op.getGate(), op.getUp()},
                                          swiglu));
    return success();
  }
};

/// activation_grad(x, dy) => generic { dy * act'(x) }
///
///   relu'(x)      = x > 0
///   silu'(x)      = σ (1 + x (1 - σ)),  σ = sigmoid(x) (computed as in silu)
///   gelu'(x)      = Φ(x) + x φ(x)
///   gelu_tanh'(x) = (1 + t)/2 + x/2 (1 - t²) √(2/π) (1 + 3c x²),
///                   t = tanh(√(2/π) (x + c x³)), c = 0.044715
struct LowerActivationGrad : OpRewritePattern<ActivationGradOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ActivationGradOp op,
                                PatternRewriter &rewriter) const override {
    Activation act = op.getActivation();
    auto grad = [&](OpBuilder &b, Location loc, FloatType acc,
                    ValueRange args) -> Value {
      Value x = args[0], dy = args[1];
      auto cst = [&](double v) { return createFloatConstant(b, loc, acc, v); };
      auto mul = [&](Value a, Value c) {
        return arith::MulFOp::create(b, loc, a, c).getResult();
      };
      auto add = [&](Value a, Value c) {
        return arith::AddFOp::create(b, loc, a, c).getResult();
      };
      Value d;
      switch (act) {
      case Activation::none:
        return dy;
      case Activation::relu: {
        Value positive =
            arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, x, cst(0));
        return arith::SelectOp::create(b, loc, positive, dy, cst(0));
      }
      case Activation::silu: {
        // σ = 1 / (1 + e) for x >= 0, e / (1 + e) below, e = exp(-|x|).
        Value e = math::ExpOp::create(
            b, loc,
            arith::NegFOp::create(b, loc, math::AbsFOp::create(b, loc, x)));
        Value nonNegative =
            arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGE, x, cst(0));
        Value sigma = arith::DivFOp::create(
            b, loc, arith::SelectOp::create(b, loc, nonNegative, cst(1), e),
            add(cst(1), e));
        Value oneMinus = arith::SubFOp::create(b, loc, cst(1), sigma);
        d = mul(sigma, add(cst(1), mul(x, oneMinus)));
        break;
      }
      case Activation::gelu: {
        Value cdf = mul(cst(0.5),
                        add(cst(1), math::ErfOp::create(
                                        b, loc, mul(x, cst(M_SQRT1_2)))));
        Value pdf = mul(cst(0.5 * M_2_SQRTPI * M_SQRT1_2),
                        math::ExpOp::create(b, loc,
                                            mul(cst(-0.5), mul(x, x))));
        d = add(cdf, mul(x, pdf));
        break;
      }
      case Activation::gelu_tanh: {
        double k = std::sqrt(2.0 / M_PI), c = 0.044715;
        Value x2 = mul(x, x);
        Value t = math::TanhOp::create(
            b, loc, mul(cst(k), add(x, mul(cst(c), mul(x2, x)))));
        Value sech2 = arith::SubFOp::create(b, loc, cst(1), mul(t, t));
        Value inner = mul(cst(k), add(cst(1), mul(cst(3 * c), x2)));
        d = add(mul(cst(0.5), add(cst(1), t)),
                mul(mul(cst(0.5), x), mul(sech2, inner)));
        break;
      }
      }
      return mul(dy, d);
    };
    rewriter.replaceOp(op, buildSameShape(rewriter, op.getLoc(),
                                          ValueRange{op.getInput(),
                                                     op.getGrad()},
                                          grad));
    return success();
  }
};

} // namespace

void mlir::rotor::populateElementwiseToLinalgPatterns(
    RewritePatternSet &patterns) {
  patterns.add<LowerBroadcastingBinary<AddOp, arith::AddFOp>,
               LowerBroadcastingBinary<MulOp, arith::MulFOp>, LowerRelu,
               LowerSilu, LowerGelu, LowerSwiglu, LowerActivationGrad>(
      patterns.getContext());
}
