//===- FuseElementwise.cpp - elementwise fusion that never repeats work ---===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom/Codegen/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::loom {
#define GEN_PASS_DEF_LOOMFUSEELEMENTWISEPASS
#include "loom/Codegen/Passes.h.inc"
} // namespace mlir::loom

using namespace mlir;

namespace {

/// Whether every op of the producer's body only changes the representation
/// of its input (a widening of f16/bf16 weights, a bitcast).
bool onlyConverts(linalg::GenericOp producer) {
  return llvm::all_of(
      producer.getRegion().front().without_terminator(), [](Operation &op) {
        return isa<arith::ExtFOp, arith::TruncFOp, arith::BitcastOp,
                   arith::SIToFPOp, arith::UIToFPOp>(op);
      });
}

/// Fuses an elementwise producer into its consumer unless that repeats its
/// work: a consumer with reduction loops (a contraction) reads each operand
/// element once per output it contributes to, so a fused norm or SiLU would
/// be recomputed for every output feature; and a producer with other uses
/// stays, so fusing it computes it twice (the residual stream, read by a
/// norm's reduction and the next residual add, was re-added from every
/// earlier layer's output in each layer, and the rotary tables were
/// recomputed for every use). Conversions are cheap enough to repeat (and
/// fusing them keeps f16 weights unexpanded).
bool shouldFuse(OpOperand *fused) {
  auto consumer = dyn_cast<linalg::LinalgOp>(fused->getOwner());
  auto producer = fused->get().getDefiningOp<linalg::GenericOp>();
  if (!consumer || !producer)
    return false;
  if (!fused->get().hasOneUse() && !onlyConverts(producer))
    return false;
  if (consumer.getNumReductionLoops() == 0)
    return true;
  // Activations rounded to bf16 once are read many times by a contraction:
  // keep the rounding out of it.
  if (!producer.getRegion().getOps<arith::TruncFOp>().empty())
    return false;
  return onlyConverts(producer);
}

struct LoomFuseElementwisePass
    : loom::impl::LoomFuseElementwisePassBase<LoomFuseElementwisePass> {
  using Base::Base;

  void runOnOperation() override {
    // linalg.softmax (an aggregate op, which nothing downstream lowers)
    // into the generics it stands for, which then fuse like any others.
    SmallVector<linalg::SoftmaxOp> softmaxes;
    getOperation()->walk(
        [&](linalg::SoftmaxOp op) { softmaxes.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (linalg::SoftmaxOp op : softmaxes) {
      rewriter.setInsertionPoint(op);
      FailureOr<SmallVector<Value>> parts = op.decomposeOperation(rewriter);
      if (failed(parts)) {
        op.emitOpError("cannot be decomposed into linalg.generic ops");
        return signalPassFailure();
      }
      rewriter.replaceOp(op, *parts);
    }
    RewritePatternSet patterns(&getContext());
    linalg::populateElementwiseOpsFusionPatterns(patterns, shouldFuse);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
