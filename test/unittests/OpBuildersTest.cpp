//===- OpBuildersTest.cpp - Tests of the rotor C++ op API --------------------===//
//
// Part of the Rotor project.
//
//===----------------------------------------------------------------------===//
//
// Builds rotor ops through the C++ API (as frontends and passes do) and
// checks shape inference, verifier messages and folds.
//
//===----------------------------------------------------------------------===//

#include "rotor/Dialect/Rotor/RotorDialect.h"
#include "rotor/Dialect/Rotor/RotorOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace mlir;
using namespace mlir::rotor;

namespace {

constexpr int64_t kDyn = ShapedType::kDynamic;

class OpBuildersTest : public ::testing::Test {
protected:
  OpBuildersTest() : builder(&ctx) {
    ctx.loadDialect<RotorDialect, func::FuncDialect, arith::ArithDialect,
                    tensor::TensorDialect>();
    module = ModuleOp::create(builder.getUnknownLoc());
    builder.setInsertionPointToEnd(module->getBody());
    handler.emplace(&ctx, [this](Diagnostic &diag) {
      diagnostics.push_back(diag.str());
      return success();
    });
  }

  RankedTensorType tensor(ArrayRef<int64_t> shape, Type elem = Type()) {
    return RankedTensorType::get(shape, elem ? elem : builder.getF32Type());
  }

  /// Creates a function with arguments of `types` and positions the builder
  /// inside it.
  func::FuncOp makeFunc(ArrayRef<Type> types) {
    auto fn = func::FuncOp::create(builder, builder.getUnknownLoc(), "f",
                                   builder.getFunctionType(types, {}));
    builder.setInsertionPointToEnd(fn.addEntryBlock());
    return fn;
  }

  Location loc() { return builder.getUnknownLoc(); }

  MLIRContext ctx;
  OpBuilder builder;
  OwningOpRef<ModuleOp> module;
  std::optional<ScopedDiagnosticHandler> handler;
  std::vector<std::string> diagnostics;
};

TEST_F(OpBuildersTest, AttentionInfersOutputAndLse) {
  auto fn = makeFunc({tensor({2, 32, kDyn, 128}, builder.getBF16Type()),
                      tensor({2, 8, kDyn, 128}, builder.getBF16Type()),
                      tensor({2, 8, kDyn, 96}, builder.getBF16Type())});
  auto args = fn.getArguments();
  auto op = AttentionOp::create(builder, loc(), args[0], args[1], args[2],
                                /*bias=*/Value(), /*query_positions=*/Value(),
                                /*key_positions=*/Value(),
                                /*rope_learned_base=*/Value(),
                                /*query_givens_angles=*/Value(),
                                /*query_rotation=*/Value(),
                                /*query_start=*/Value(),
                                /*mask=*/MaskAttr(),
                                /*scale=*/FloatAttr(), /*softcap=*/FloatAttr(),
                                builder.getI64IntegerAttr(128),
                                builder.getUnitAttr(), RopeLayoutAttr(),
                                IntegerAttr(), FloatAttr(), RopeScalingAttr(),
                                /*givens_q_pairs=*/DenseI64ArrayAttr());
  EXPECT_EQ(op.getOutput().getType(),
            tensor({2, 32, kDyn, 96}, builder.getBF16Type()));
  ASSERT_TRUE(op.getLse());
  EXPECT_EQ(op.getLse().getType(), tensor({2, 32, kDyn}));
  EXPECT_DOUBLE_EQ(op.getEffectiveScale(), 1.0 / std::sqrt(128.0));
  EXPECT_TRUE(op.getEffectiveMask().isFull());
  EXPECT_TRUE(succeeded(verify(op)));
}

TEST_F(OpBuildersTest, AttentionRejectsIndivisibleHeads) {
  auto fn = makeFunc({tensor({1, 32, 16, 64}), tensor({1, 6, 16, 64}),
                      tensor({1, 6, 16, 64})});
  auto args = fn.getArguments();
  auto op = AttentionOp::create(builder, loc(), args[0], args[1], args[2],
                                Value(), Value(), Value(), Value(), Value(),
                                Value(), Value(), MaskAttr(), FloatAttr(),
                                FloatAttr(),
                                builder.getI64IntegerAttr(128), UnitAttr(),
                                RopeLayoutAttr(), IntegerAttr(), FloatAttr(),
                                RopeScalingAttr(), DenseI64ArrayAttr());
  EXPECT_TRUE(failed(verify(op)));
  ASSERT_FALSE(diagnostics.empty());
  EXPECT_EQ(diagnostics.back(), "'rotor.attention' op 32 query heads are not "
                                "divisible by 6 key/value heads");
}

TEST_F(OpBuildersTest, LinearAndSplitHeadsInferShapes) {
  auto fn = makeFunc({tensor({2, kDyn, 64}), tensor({96, 64})});
  auto args = fn.getArguments();
  auto lin = LinearOp::create(builder, loc(), args[0], args[1], Value());
  EXPECT_EQ(lin.getType(), tensor({2, kDyn, 96}));
  auto split = SplitHeadsOp::create(builder, loc(), lin.getResult(),
                                    builder.getI64IntegerAttr(4));
  EXPECT_EQ(split.getType(), tensor({2, 4, kDyn, 24}));
  auto merge = MergeHeadsOp::create(builder, loc(), split.getResult());
  EXPECT_EQ(merge.getType(), tensor({2, kDyn, 96}));
  // merge_heads(split_heads(x)) folds to x.
  SmallVector<OpFoldResult> folded;
  ASSERT_TRUE(succeeded(merge->fold(folded)));
  ASSERT_EQ(folded.size(), 1u);
  EXPECT_EQ(dyn_cast<Value>(folded[0]), lin.getResult());
}

TEST_F(OpBuildersTest, BroadcastInference) {
  auto fn = makeFunc({tensor({2, kDyn, 64}), tensor({64}), tensor({3, 1})});
  auto args = fn.getArguments();
  auto add = AddOp::create(builder, loc(), args[0], args[1]);
  EXPECT_EQ(add.getType(), tensor({2, kDyn, 64}));
  auto mul = MulOp::create(builder, loc(), args[2], args[1]);
  EXPECT_EQ(mul.getType(), tensor({3, 64}));
}

TEST_F(OpBuildersTest, GivensChainComposesIntoOneRotation) {
  auto fn = makeFunc({tensor({3, 4})});
  Value x = fn.getArgument(0);
  auto anglesType = tensor({2});
  auto angles = arith::ConstantOp::create(
      builder, loc(),
      DenseElementsAttr::get(anglesType, ArrayRef<float>{0.5f, -1.25f}));
  auto g = GivensOp::create(builder, loc(), x, angles,
                            builder.getDenseI64ArrayAttr({0, 1, 2, 3}));
  // A rotate by R after constant Givens becomes one rotate by G·R.
  auto rType = tensor({4, 4});
  SmallVector<float> r(16, 0.0f);
  r[0 * 4 + 1] = 1.0f; // a permutation matrix
  r[1 * 4 + 0] = 1.0f;
  r[2 * 4 + 3] = 1.0f;
  r[3 * 4 + 2] = 1.0f;
  auto rConst = arith::ConstantOp::create(
      builder, loc(), DenseElementsAttr::get(rType, ArrayRef<float>(r)));
  auto rot = RotateOp::create(builder, loc(), g.getResult(), rConst);
  // Keep the result alive: the greedy driver erases dead pure ops.
  func::ReturnOp::create(builder, loc(), ValueRange{rot.getResult()});
  fn.setFunctionType(builder.getFunctionType({x.getType()}, {rot.getType()}));

  RewritePatternSet patterns(&ctx);
  GivensOp::getCanonicalizationPatterns(patterns, &ctx);
  RotateOp::getCanonicalizationPatterns(patterns, &ctx);
  ASSERT_TRUE(succeeded(applyPatternsGreedily(fn, std::move(patterns))));

  SmallVector<RotateOp> rotates;
  fn.walk([&](RotateOp op) { rotates.push_back(op); });
  ASSERT_EQ(rotates.size(), 1u);
  EXPECT_EQ(rotates[0].getInput(), x);
  EXPECT_TRUE(fn.getOps<GivensOp>().empty());
  auto m = rotates[0].getRotation().getDefiningOp<arith::ConstantOp>();
  ASSERT_TRUE(m);
  auto values = cast<DenseElementsAttr>(m.getValue()).getValues<float>();
  // Row 0 of G is (c0, s0, 0, 0); G·R swaps columns 0<->1 and 2<->3.
  EXPECT_NEAR(values[0 * 4 + 0], std::sin(0.5), 1e-6);
  EXPECT_NEAR(values[0 * 4 + 1], std::cos(0.5), 1e-6);
  EXPECT_NEAR(values[2 * 4 + 2], std::sin(-1.25), 1e-6);
  EXPECT_NEAR(values[2 * 4 + 3], std::cos(-1.25), 1e-6);
}

TEST_F(OpBuildersTest, RopeFoldsRotaryDimZero) {
  auto fn = makeFunc({tensor({1, 2, kDyn, 8}), tensor({kDyn}, builder.getI64Type())});
  auto args = fn.getArguments();
  auto rope = RopeOp::create(builder, loc(), args[0], args[1], Value(),
                             RopeLayout::rotate_half,
                             builder.getI64IntegerAttr(0), FloatAttr(),
                             RopeScalingAttr());
  SmallVector<OpFoldResult> folded;
  ASSERT_TRUE(succeeded(rope->fold(folded)));
  EXPECT_EQ(dyn_cast<Value>(folded[0]), args[0]);
}

} // namespace
