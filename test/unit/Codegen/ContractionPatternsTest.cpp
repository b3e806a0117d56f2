//===- ContractionPatternsTest.cpp - the contraction lowering patterns ----===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// populateContractionLoweringPatterns, applied with MLIR's greedy driver
// (as a pass author would, outside loom-parallelize-contractions): a
// linear layer's contraction becomes an scf.parallel of register blocks
// with vector accumulators, an elementwise op is left alone, and without
// vector lanes no pattern is added.
//
//===----------------------------------------------------------------------===//

#include "loom/Codegen/Contractions.h"
#include "loom/InitAllDialects.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <gtest/gtest.h>

using namespace mlir;

namespace {

constexpr const char *kIR = R"mlir(
#x = affine_map<(b, s, n, k) -> (b, s, k)>
#w = affine_map<(b, s, n, k) -> (n, k)>
#y = affine_map<(b, s, n, k) -> (b, s, n)>
#id = affine_map<(i) -> (i)>
func.func @linear(%x: memref<1x?x40xf32>, %w: memref<8x40xf32>, %y: memref<1x?x8xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<1x?x40xf32>, memref<8x40xf32>) outs(%y : memref<1x?x8xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b fastmath<reassoc,contract> : f32
    %s = arith.addf %acc, %p fastmath<reassoc,contract> : f32
    linalg.yield %s : f32
  }
  return
}
func.func @scale(%x: memref<64xf32>, %y: memref<64xf32>) {
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : memref<64xf32>) outs(%y : memref<64xf32>) {
  ^bb0(%a: f32, %b: f32):
    %s = arith.mulf %a, %a : f32
    linalg.yield %s : f32
  }
  return
}
)mlir";

struct Counts {
  int generics = 0, parallels = 0, vectorFmas = 0;
};

Counts count(Operation *root) {
  Counts c;
  root->walk([&](Operation *op) {
    c.generics += isa<linalg::GenericOp>(op);
    c.parallels += isa<scf::ParallelOp>(op);
    c.vectorFmas +=
        isa<vector::FMAOp>(op) || (op->getName().getStringRef() == "math.fma" &&
                                   isa<VectorType>(op->getResult(0).getType()));
  });
  return c;
}

class ContractionPatterns : public ::testing::Test {
protected:
  ContractionPatterns() {
    DialectRegistry registry;
    loom::registerLoomToolDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
    module = parseSourceString<ModuleOp>(kIR, &context);
  }
  func::FuncOp function(StringRef name) {
    return module->lookupSymbol<func::FuncOp>(name);
  }
  MLIRContext context;
  OwningOpRef<ModuleOp> module;
};

TEST_F(ContractionPatterns, LowerALinearLayerAndNothingElse) {
  ASSERT_TRUE(module);
  RewritePatternSet patterns(&context);
  loom::ContractionLoweringOptions options;
  options.blockRows = options.blockCols = 2;
  loom::populateContractionLoweringPatterns(patterns, options);
  ASSERT_TRUE(succeeded(applyPatternsGreedily(*module, std::move(patterns))));
  Counts linear = count(function("linear"));
  EXPECT_EQ(linear.generics, 0);
  EXPECT_EQ(linear.parallels, 1);
  EXPECT_GT(linear.vectorFmas, 0);
  Counts scale = count(function("scale"));
  EXPECT_EQ(scale.generics, 1);
  EXPECT_EQ(scale.parallels, 0);
}

TEST_F(ContractionPatterns, NoLanesNoPatterns) {
  ASSERT_TRUE(module);
  RewritePatternSet patterns(&context);
  loom::ContractionLoweringOptions options;
  options.vectorWidth = 0;
  loom::populateContractionLoweringPatterns(patterns, options);
  EXPECT_EQ(patterns.getNativePatterns().size(), 0u);
  ASSERT_TRUE(succeeded(applyPatternsGreedily(*module, std::move(patterns))));
  EXPECT_EQ(count(function("linear")).generics, 1);
}

} // namespace
