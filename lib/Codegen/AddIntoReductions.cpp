//===- AddIntoReductions.cpp - residual adds as reductions' start ---------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// loom-add-into-reductions: x + Σ p computed as the sum Σ p started from x
// instead of from zero (see the pass description in Passes.td).
//
//===----------------------------------------------------------------------===//

#include "loom/Codegen/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::loom {
#define GEN_PASS_DEF_LOOMADDINTOREDUCTIONSPASS
#include "loom/Codegen/Passes.h.inc"
} // namespace mlir::loom

using namespace mlir;

namespace {

/// Whether `op` adds its two inputs elementwise: identity maps, parallel
/// loops, a body of one addf of the two input arguments.
bool isElementwiseAdd(linalg::GenericOp op) {
  if (op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
      op.getNumReductionLoops() != 0 ||
      !llvm::all_of(op.getIndexingMapsArray(),
                    [](AffineMap m) { return m.isIdentity(); }))
    return false;
  Block &body = op.getRegion().front();
  if (body.getOperations().size() != 2)
    return false;
  auto add = dyn_cast<arith::AddFOp>(body.front());
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  if (!add || yield.getValues() != ValueRange{add.getResult()})
    return false;
  Value a = body.getArgument(0), b = body.getArgument(1);
  return (add.getLhs() == a && add.getRhs() == b) ||
         (add.getLhs() == b && add.getRhs() == a);
}

/// Whether `op` is a sum (its result the output argument plus the rest of
/// the body) into an output that a fill of zero starts.
bool isSumFromZero(linalg::GenericOp op) {
  if (op.getNumDpsInits() != 1 || op.getNumReductionLoops() == 0)
    return false;
  auto fill = op.getDpsInitOperand(0)->get().getDefiningOp<linalg::FillOp>();
  if (!fill || !matchPattern(fill.getInputs()[0], m_AnyZeroFloat()))
    return false;
  Block &body = op.getRegion().front();
  Value out = body.getArguments().back();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto add = yield.getValues()[0].getDefiningOp<arith::AddFOp>();
  return add && (add.getLhs() == out || add.getRhs() == out) &&
         !llvm::any_of(body.without_terminator(), [&](Operation &o) {
           return &o != add.getOperation() &&
                  llvm::is_contained(o.getOperands(), out);
         });
}

struct AddIntoReductions
    : loom::impl::LoomAddIntoReductionsPassBase<AddIntoReductions> {
  using Base::Base;

  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    SmallVector<linalg::GenericOp> adds;
    getOperation()->walk([&](linalg::GenericOp op) {
      if (op.hasPureTensorSemantics() && isElementwiseAdd(op))
        adds.push_back(op);
    });
    for (linalg::GenericOp add : adds) {
      for (unsigned i = 0; i < 2; ++i) {
        Value sum = add.getDpsInputOperand(i)->get();
        Value other = add.getDpsInputOperand(1 - i)->get();
        auto reduction = sum.getDefiningOp<linalg::GenericOp>();
        if (!reduction || !sum.hasOneUse() ||
            other.getType() != sum.getType() || !isSumFromZero(reduction))
          continue;
        // The other operand must exist where the sum starts.
        if (Operation *def = other.getDefiningOp();
            def && (def->getBlock() != reduction->getBlock() ||
                    !def->isBeforeInBlock(reduction)))
          continue;
        if (auto arg = dyn_cast<BlockArgument>(other);
            arg && arg.getOwner() != reduction->getBlock())
          continue;
        Operation *fill = reduction.getDpsInitOperand(0)->get().getDefiningOp();
        rewriter.modifyOpInPlace(
            reduction, [&] { reduction.getDpsInitOperand(0)->set(other); });
        rewriter.replaceOp(add, sum);
        if (fill->use_empty())
          rewriter.eraseOp(fill);
        break;
      }
    }
  }
};

} // namespace
