//===- LoomOpsTest.cpp - building loom ops from C++ -----------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// What lit cannot reach: the C++ builders that infer result types, the
// inference rules at their edges (dynamic sizes, broadcasting masks) and the
// accessors that derive values from attributes.
//
//===----------------------------------------------------------------------===//

#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace mlir;
using namespace mlir::loom;

namespace {

class LoomOpsTest : public ::testing::Test {
protected:
  LoomOpsTest() : builder(&context) {
    context.loadDialect<LoomDialect, func::FuncDialect, arith::ArithDialect,
                        tensor::TensorDialect>();
    module = ModuleOp::create(builder.getUnknownLoc());
    builder.setInsertionPointToEnd(module->getBody());
  }

  RankedTensorType tensor(ArrayRef<int64_t> shape, Type elt = nullptr) {
    return RankedTensorType::get(shape, elt ? elt : builder.getF32Type());
  }

  /// A value of `type` to feed ops with: a named weight.
  Value weight(StringRef name, RankedTensorType type) {
    return WeightOp::create(builder, loc(), type, name).getResult();
  }

  Location loc() { return builder.getUnknownLoc(); }

  /// Parses `ir` and returns the diagnostics it produced, joined.
  std::string parseErrors(StringRef ir) {
    std::string errors;
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
      errors += d.str() + "\n";
      return success();
    });
    OwningOpRef<ModuleOp> parsed = parseSourceString<ModuleOp>(ir, &context);
    EXPECT_FALSE(parsed) << "expected the IR to be rejected";
    return errors;
  }

  MLIRContext context;
  OpBuilder builder;
  OwningOpRef<ModuleOp> module;
};

TEST_F(LoomOpsTest, LinearInfersOutFeaturesAndKeepsLeadingDims) {
  Value x = weight("x", tensor({2, 16, 64}));
  Value w = weight("w", tensor({172, 64}));
  auto op = LinearOp::create(builder, loc(), x, w, /*bias=*/Value());
  EXPECT_EQ(op.getType(), tensor({2, 16, 172}));
  EXPECT_TRUE(succeeded(verify(*module)));
}

TEST_F(LoomOpsTest, LinearWithDynamicSeqInfersDynamicSeq) {
  auto xType = tensor({ShapedType::kDynamic, 64});
  auto func = func::FuncOp::create(builder, loc(), "f",
                                   builder.getFunctionType({xType}, {}));
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(func.addEntryBlock());
  Value w = weight("w", tensor({32, 64}));
  auto op = LinearOp::create(builder, loc(), func.getArgument(0), w, Value());
  EXPECT_EQ(op.getType(), tensor({ShapedType::kDynamic, 32}));
}

TEST_F(LoomOpsTest, MatmulTransposeFlagsPickTheRightDims) {
  Value q = weight("q", tensor({1, 8, 16, 8}));
  Value k = weight("k", tensor({1, 8, 24, 8}));
  auto scores = MatmulOp::create(builder, loc(), q, k, /*transposeLhs=*/false,
                                 /*transposeRhs=*/true);
  EXPECT_EQ(scores.getType(), tensor({1, 8, 16, 24}));
  auto back = MatmulOp::create(builder, loc(), scores, k, false, false);
  EXPECT_EQ(back.getType(), tensor({1, 8, 16, 8}));
  auto tl = MatmulOp::create(builder, loc(), q, q, /*transposeLhs=*/true,
                             /*transposeRhs=*/false);
  EXPECT_EQ(tl.getType(), tensor({1, 8, 8, 8}));
}

TEST_F(LoomOpsTest, MatmulWithTransposedLhsChecksTheRightDims) {
  // [1,8,24,8]^T x [1,8,16,8]: the contracted sizes are 24 and 16.
  std::string errors = parseErrors(R"mlir(
    func.func @f(%k: tensor<1x8x24x8xf32>, %q: tensor<1x8x16x8xf32>) {
      %0 = loom.matmul %k, %q transpose_lhs : (tensor<1x8x24x8xf32>, tensor<1x8x16x8xf32>) -> tensor<1x8x8x8xf32>
      return
    })mlir");
  EXPECT_NE(errors.find("expected the contracted dimensions to agree, but "
                        "found 24 (lhs) and 16 (rhs)"),
            std::string::npos)
      << errors;
}

TEST_F(LoomOpsTest, AttentionInfersFromQueryHeadsAndValueDim) {
  Value q = weight("q", tensor({1, 32, 7, 128}));
  Value k = weight("k", tensor({1, 8, 300, 128}));
  Value v = weight("v", tensor({1, 8, 300, 64}));
  auto op = AttentionOp::create(builder, loc(), q, k, v, /*mask=*/Value(),
                                /*offset=*/Value(), /*scale=*/nullptr,
                                /*causal=*/true, /*window=*/std::nullopt);
  EXPECT_EQ(op.getType(), tensor({1, 32, 7, 64}));
  EXPECT_EQ(op.getGroupSize(), 4);
  EXPECT_DOUBLE_EQ(op.getScaleOrDefault(), 1.0 / std::sqrt(128.0));
  EXPECT_TRUE(succeeded(verify(op)));
}

TEST_F(LoomOpsTest, AttentionExplicitScaleWins) {
  Value q = weight("q", tensor({1, 2, 4, 16}));
  auto op =
      AttentionOp::create(builder, loc(), q, q, q, Value(), Value(),
                          builder.getF32FloatAttr(0.5f), false, std::nullopt);
  EXPECT_DOUBLE_EQ(op.getScaleOrDefault(), 0.5);
}

TEST_F(LoomOpsTest, AttentionMaskBroadcastRules) {
  Value q = weight("q", tensor({2, 4, 5, 8}));
  Value k = weight("k", tensor({2, 2, 9, 8}));
  auto build = [&](ArrayRef<int64_t> maskShape) {
    Value mask = weight("mask", tensor(maskShape));
    return AttentionOp::create(builder, loc(), q, k, k, mask, Value(), nullptr,
                               false, std::nullopt);
  };
  // Accepted: full, broadcast over batch and heads, rank 2.
  EXPECT_TRUE(succeeded(verify(build({2, 4, 5, 9}))));
  EXPECT_TRUE(succeeded(verify(build({1, 1, 5, 9}))));
  EXPECT_TRUE(succeeded(verify(build({5, 9}))));
  // Rejected: a mask over the wrong key length, or of rank 3.
  ScopedDiagnosticHandler quiet(&context,
                                [](Diagnostic &) { return success(); });
  EXPECT_TRUE(failed(verify(build({1, 1, 5, 8}))));
  EXPECT_TRUE(failed(verify(build({4, 5, 9}))));
}

TEST_F(LoomOpsTest, RopeRotaryDimDefaultsToHeadDim) {
  Value x = weight("x", tensor({1, 3, 2, 16}));
  Value pos = arith::ConstantIndexOp::create(builder, loc(), 0);
  auto full = RopeOp::create(
      builder, loc(), x.getType(), x, pos, builder.getF32FloatAttr(10000.0f),
      RopeStyleAttr::get(&context, RopeStyle::interleaved), std::nullopt);
  EXPECT_EQ(full.getRotaryDimOrDefault(), 16);
  auto partial = RopeOp::create(
      builder, loc(), x.getType(), x, pos, builder.getF32FloatAttr(10000.0f),
      RopeStyleAttr::get(&context, RopeStyle::half), int64_t(8));
  EXPECT_EQ(partial.getRotaryDimOrDefault(), 8);
  EXPECT_TRUE(succeeded(verify(*module)));
}

TEST_F(LoomOpsTest, SoftmaxNormalizesNegativeAxis) {
  Value x = weight("x", tensor({2, 3, 4}));
  auto last = SoftmaxOp::create(builder, loc(), x, int64_t(-1));
  EXPECT_EQ(last.getNormalizedAxis(), 2);
  auto first = SoftmaxOp::create(builder, loc(), x, int64_t(-3));
  EXPECT_EQ(first.getNormalizedAxis(), 0);
}

TEST_F(LoomOpsTest, MoeOpsChainWithInferredTypes) {
  const int64_t tokens = 5, dim = 16, hidden = 24, experts = 8, k = 2;
  Value x = weight("x", tensor({tokens, dim}));
  Value router = weight("blk.0.ffn_gate_inp.weight", tensor({experts, dim}));
  Value logits = LinearOp::create(builder, loc(), x, router, Value());
  auto route = MoeRouterOp::create(builder, loc(), logits, k, true);
  EXPECT_EQ(route.getWeights().getType(), tensor({tokens, k}));
  EXPECT_EQ(route.getExperts().getType(),
            tensor({tokens, k}, builder.getI32Type()));
  auto dispatch =
      MoeDispatchOp::create(builder, loc(), x, route.getExperts(), experts);
  EXPECT_EQ(dispatch.getSorted().getType(), tensor({tokens * k, dim}));
  EXPECT_EQ(dispatch.getOffsets().getType(),
            tensor({experts + 1}, builder.getI32Type()));
  Value gate = weight("gate", tensor({experts, hidden, dim}));
  Value up = weight("up", tensor({experts, hidden, dim}));
  Value down = weight("down", tensor({experts, dim, hidden}));
  auto ffn = MoeExpertFfnOp::create(
      builder, loc(), dispatch.getSorted(), dispatch.getOffsets(), gate, up,
      down, ActivationAttr::get(&context, Activation::silu));
  auto combine = MoeCombineOp::create(
      builder, loc(), ffn, dispatch.getPermutation(), route.getWeights());
  EXPECT_EQ(combine.getType(), tensor({tokens, dim}));
  EXPECT_TRUE(succeeded(verify(*module)));
}

TEST_F(LoomOpsTest, RepeatInterleaveOfDynamicAxisStaysDynamic) {
  auto type = tensor({1, ShapedType::kDynamic, 4});
  auto func = func::FuncOp::create(builder, loc(), "g",
                                   builder.getFunctionType({type}, {}));
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToStart(func.addEntryBlock());
  auto op = RepeatInterleaveOp::create(builder, loc(), func.getArgument(0),
                                       /*axis=*/1, /*repeats=*/3);
  EXPECT_EQ(op.getType(), type);
  auto op2 = RepeatInterleaveOp::create(builder, loc(), func.getArgument(0),
                                        /*axis=*/2, /*repeats=*/3);
  EXPECT_EQ(op2.getType(), tensor({1, ShapedType::kDynamic, 12}));
}

TEST_F(LoomOpsTest, CompatibleReturnTypesAcceptRefinement) {
  // A written result may be more or less static than the inferred one.
  EXPECT_TRUE(areCompatibleTensorTypes(
      TypeRange{tensor({2, 3})}, TypeRange{tensor({ShapedType::kDynamic, 3})}));
  EXPECT_FALSE(areCompatibleTensorTypes(TypeRange{tensor({2, 3})},
                                        TypeRange{tensor({2, 4})}));
  EXPECT_FALSE(areCompatibleTensorTypes(
      TypeRange{tensor({2, 3})},
      TypeRange{tensor({2, 3}, builder.getF16Type())}));
  EXPECT_FALSE(areCompatibleTensorTypes(TypeRange{tensor({2, 3})},
                                        TypeRange{tensor({2, 3, 1})}));
}

TEST_F(LoomOpsTest, ParserReportsInferenceErrorsWithOpName) {
  std::string errors = parseErrors(R"mlir(
    func.func @f(%x: tensor<4x64xf32>, %w: tensor<32x48xf32>) {
      %0 = loom.linear %x, %w : (tensor<4x64xf32>, tensor<32x48xf32>) -> tensor<4x32xf32>
      return
    })mlir");
  EXPECT_NE(errors.find("'loom.linear' op expected the input's last dimension "
                        "(64) to equal the weight's in_features (48)"),
            std::string::npos)
      << errors;
}

TEST_F(LoomOpsTest, WeightResultIsNamedAfterTheParameter) {
  OwningOpRef<ModuleOp> parsed = parseSourceString<ModuleOp>(R"mlir(
    %w = loom.weight "blk.0.attn_q.weight" : tensor<4x4xf32>
    %b = loom.weight "odd name/with:chars" : tensor<4xf32>
  )mlir",
                                                             &context);
  ASSERT_TRUE(parsed);
  std::string printed;
  llvm::raw_string_ostream os(printed);
  parsed->print(os);
  EXPECT_NE(printed.find("%blk.0.attn_q.weight = loom.weight"),
            std::string::npos)
      << printed;
  EXPECT_NE(printed.find("%odd_name_with_chars = loom.weight"),
            std::string::npos)
      << printed;
}

} // namespace
