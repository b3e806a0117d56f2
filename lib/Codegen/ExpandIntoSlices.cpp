//===- ExpandIntoSlices.cpp - outputs computed in their slice's shape -----===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// loom-expand-into-slices: a linalg.generic whose result is only reshaped
// (tensor.expand_shape) and inserted into a bigger tensor computes the
// reshaped result itself (see the pass description in Passes.td).
//
//===----------------------------------------------------------------------===//

#include "loom/Codegen/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::loom {
#define GEN_PASS_DEF_LOOMEXPANDINTOSLICESPASS
#include "loom/Codegen/Passes.h.inc"
} // namespace mlir::loom

using namespace mlir;

namespace {

/// The insert_slice that `value` becomes the source of through reshapes
/// (expand_shape, collapse_shape) each used once, or null; `chain` gets the
/// reshapes in order.
tensor::InsertSliceOp
sliceThroughReshapes(Value value,
                     SmallVectorImpl<Operation *> *chain = nullptr) {
  while (value.hasOneUse()) {
    Operation *user = *value.getUsers().begin();
    if (auto insert = dyn_cast<tensor::InsertSliceOp>(user))
      return insert.getSource() == value ? insert : nullptr;
    if (!isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(user))
      return nullptr;
    if (chain)
      chain->push_back(user);
    value = user->getResult(0);
  }
  return nullptr;
}

/// Whether `operand` is the source of an expand_shape that only feeds an
/// insert_slice (through more reshapes), and the result of a linalg.generic
/// used by nothing else.
bool expandsIntoASlice(OpOperand *operand) {
  auto expand = dyn_cast<tensor::ExpandShapeOp>(operand->getOwner());
  return expand && operand->get() == expand.getSrc() &&
         expand.getSrc().hasOneUse() &&
         expand.getSrc().getDefiningOp<linalg::GenericOp>() &&
         sliceThroughReshapes(expand.getResult());
}

/// The sizes of `shape` other than 1, in order.
SmallVector<int64_t> nonUnit(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> sizes;
  for (int64_t s : shape)
    if (s != 1)
      sizes.push_back(s);
  return sizes;
}

/// A generic whose result reaches an insert_slice through reshapes that
/// only move unit dimensions (a key row [1, 1, kv_heads, head_dim] into
/// the cache's [1, kv_heads, 1, head_dim]: what is left of a transpose of
/// unit dimensions) writes the slice's shape itself: its output map's
/// results permuted the same way (a unit dimension for a unit dimension),
/// its output's start reshaped by the same chain.
struct PermuteUnitDimsIntoSlice : OpRewritePattern<tensor::InsertSliceOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(tensor::InsertSliceOp insert,
                                PatternRewriter &rewriter) const override {
    // Back from the slice to the generic.
    Value value = insert.getSource();
    while (Operation *def = value.getDefiningOp()) {
      if (!isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(def))
        break;
      value = def->getOperand(0);
    }
    auto generic = value.getDefiningOp<linalg::GenericOp>();
    SmallVector<Operation *> chain;
    if (!generic || generic->getNumResults() != 1 ||
        sliceThroughReshapes(value, &chain) != insert || chain.empty())
      return failure();
    auto from = cast<RankedTensorType>(value.getType());
    auto to = cast<RankedTensorType>(insert.getSourceType());
    if (!from.hasStaticShape() || !to.hasStaticShape() ||
        from.getRank() != to.getRank() ||
        nonUnit(from.getShape()) != nonUnit(to.getShape()))
      return failure();
    // Result j of the new map: the next of the old results of its kind.
    AffineMap map = generic.getIndexingMapsArray().back();
    SmallVector<AffineExpr> units, others, results;
    for (auto [size, expr] : llvm::zip(from.getShape(), map.getResults()))
      (size == 1 ? units : others).push_back(expr);
    size_t nextUnit = 0, nextOther = 0;
    for (int64_t size : to.getShape())
      results.push_back(size == 1 ? units[nextUnit++] : others[nextOther++]);
    SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
    maps.back() = AffineMap::get(map.getNumDims(), map.getNumSymbols(), results,
                                 rewriter.getContext());

    // The output's start through the same reshapes, before the generic.
    rewriter.setInsertionPoint(generic);
    Value init = generic.getDpsInits().front();
    for (Operation *reshape : chain) {
      IRMapping mapping;
      mapping.map(reshape->getOperand(0), init);
      init = rewriter.clone(*reshape, mapping)->getResult(0);
    }
    auto permuted = linalg::GenericOp::create(
        rewriter, generic.getLoc(), TypeRange{to}, generic.getDpsInputs(),
        ValueRange{init}, maps, generic.getIteratorTypesArray());
    rewriter.inlineRegionBefore(generic.getRegion(), permuted.getRegion(),
                                permuted.getRegion().begin());
    rewriter.modifyOpInPlace(insert, [&] {
      insert.getSourceMutable().assign(permuted.getResult(0));
    });
    for (Operation *reshape : llvm::reverse(chain))
      rewriter.eraseOp(reshape);
    rewriter.eraseOp(generic);
    return success();
  }
};

struct ExpandIntoSlices
    : mlir::loom::impl::LoomExpandIntoSlicesPassBase<ExpandIntoSlices> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    linalg::populateFoldReshapeOpsByExpansionPatterns(patterns,
                                                      expandsIntoASlice);
    patterns.add<PermuteUnitDimsIntoSlice>(&getContext());
    // The expanded output's start, a fill of an empty tensor reshaped,
    // becomes a fill of an empty tensor of the new shape (which
    // eliminate-empty-tensors can replace by the slice).
    MLIRContext *ctx = &getContext();
    linalg::FillOp::getCanonicalizationPatterns(patterns, ctx);
    tensor::populateFoldTensorEmptyPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
