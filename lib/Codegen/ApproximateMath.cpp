//===- ApproximateMath.cpp - f32 exp, tanh and erf as inline polynomials --===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// loom-approximate-math: MLIR's polynomial approximations for the
// transcendental functions a transformer evaluates per element (softmax's
// exp, SiLU's exp, GELU's tanh or erf), so that they vectorize instead of
// calling libm one value at a time.
//
//===----------------------------------------------------------------------===//

#include "loom/Codegen/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::loom {
#define GEN_PASS_DEF_LOOMAPPROXIMATEMATHPASS
#include "loom/Codegen/Passes.h.inc"
} // namespace mlir::loom

using namespace mlir;

namespace {

struct LoomApproximateMathPass
    : loom::impl::LoomApproximateMathPassBase<LoomApproximateMathPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    // exp, tanh and erf only: the others (log, sin, ...) keep libm, which
    // a model calls rarely if at all.
    populateMathPolynomialApproximationPatterns(patterns, [](StringRef name) {
      return name == "math.exp" || name == "math.tanh" || name == "math.erf";
    });
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
