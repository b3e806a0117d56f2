//===- NarrowWeights.cpp - f32 matrices read as bf16 ----------------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// The bf16 compute mode for f32 checkpoints: the matrices of linear layers
// are read as bf16 copies the runtime makes once at load (the op is marked
// with the type the file stores), and widened where they were used.
//
//===----------------------------------------------------------------------===//

#include "loom/Dialect/Loom/Transforms/Passes.h"

#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"

namespace mlir::loom {
#define GEN_PASS_DEF_LOOMNARROWWEIGHTSPASS
#include "loom/Dialect/Loom/Transforms/Passes.h.inc"
} // namespace mlir::loom

using namespace mlir;
using namespace mlir::loom;

namespace {

/// Whether `weight` is a matrix only linear layers (as their weight) and
/// embeddings (as their table) read, at least one linear layer.
bool feedsLinearLayers(WeightOp weight) {
  auto type = cast<RankedTensorType>(weight.getType());
  if (type.getRank() != 2 || !type.getElementType().isF32())
    return false;
  bool linear = false;
  for (OpOperand &use : weight->getUses()) {
    if (auto op = dyn_cast<LinearOp>(use.getOwner());
        op && use.get() == op.getWeight() && use.get() != op.getInput()) {
      linear = true;
      continue;
    }
    auto embedding = dyn_cast<EmbeddingOp>(use.getOwner());
    if (!embedding || use.get() != embedding.getTable())
      return false;
  }
  return linear;
}

struct LoomNarrowWeightsPass
    : loom::impl::LoomNarrowWeightsPassBase<LoomNarrowWeightsPass> {
  using Base::Base;

  void runOnOperation() override {
    if (elementType != "bf16") {
      getOperation()->emitError("loom-narrow-weights: element-type '")
          << elementType << "' is not supported (bf16 is)";
      return signalPassFailure();
    }
    SmallVector<WeightOp> weights;
    getOperation()->walk([&](WeightOp op) {
      if (!op->hasAttr(kPackedFromAttr) && feedsLinearLayers(op))
        weights.push_back(op);
    });
    for (WeightOp op : weights) {
      OpBuilder b(op);
      auto type = cast<RankedTensorType>(op.getType());
      auto narrow = WeightOp::create(
          b, op.getLoc(), type.clone(b.getBF16Type()), op.getNameAttr());
      narrow->setAttr(kPackedFromAttr, b.getStringAttr("f32"));
      // Stored transposed: the runtime transposes it, then narrows it.
      if (Attribute t = op->getAttr(kStoredTransposedAttr))
        narrow->setAttr(kStoredTransposedAttr, t);
      auto wide =
          arith::ExtFOp::create(b, op.getLoc(), type, narrow.getResult());
      op.getResult().replaceAllUsesWith(wide.getResult());
      op.erase();
    }
  }
};

} // namespace
