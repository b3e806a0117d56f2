//===- InterleaveWeights.cpp - q4_0 matrices read 8 rows at a time --------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// q4_0 matrices of linear layers are read as q4_0x8: the blocks of 8 rows
// interleaved, which the runtime makes from the file's blocks once at load.
//
//===----------------------------------------------------------------------===//

#include "loom/Dialect/Loom/Transforms/Passes.h"

#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/IR/Builders.h"

namespace mlir::loom {
#define GEN_PASS_DEF_LOOMINTERLEAVEWEIGHTSPASS
#include "loom/Dialect/Loom/Transforms/Passes.h.inc"
} // namespace mlir::loom

using namespace mlir;
using namespace mlir::loom;

namespace {

constexpr int64_t kGroup = 8;

/// Whether `weight` holds q4_0 blocks ([n, blocks, 18], n a multiple of 8)
/// that only linear layers read (as their weight, through loom.dequantize).
bool feedsOnlyLinearLayers(WeightOp weight) {
  auto type = cast<RankedTensorType>(weight.getType());
  if (weight->hasAttr(kPackedFromAttr) || type.getRank() != 3 ||
      !type.hasStaticShape() || !type.getElementType().isInteger(8) ||
      type.getDimSize(2) != DequantizeOp::blockBytes(BlockFormat::q4_0) ||
      type.getDimSize(0) % kGroup != 0 || weight->use_empty())
    return false;
  for (Operation *user : weight->getUsers()) {
    auto dequantize = dyn_cast<DequantizeOp>(user);
    if (!dequantize || dequantize.getFormat() != BlockFormat::q4_0 ||
        dequantize->use_empty())
      return false;
    for (OpOperand &use : dequantize->getUses()) {
      auto linear = dyn_cast<LinearOp>(use.getOwner());
      if (!linear || use.get() != linear.getWeight() ||
          use.get() == linear.getInput())
        return false;
    }
  }
  return true;
}

struct LoomInterleaveWeightsPass
    : loom::impl::LoomInterleaveWeightsPassBase<LoomInterleaveWeightsPass> {
  using Base::Base;

  void runOnOperation() override {
    // Every op reading a name must qualify: the runtime binds one buffer
    // per name.
    llvm::MapVector<StringAttr, SmallVector<WeightOp>> byName;
    getOperation()->walk(
        [&](WeightOp op) { byName[op.getNameAttr()].push_back(op); });
    for (auto &[name, ops] : byName) {
      if (!llvm::all_of(ops, feedsOnlyLinearLayers) ||
          llvm::any_of(ops, [&](WeightOp op) {
            return op.getType() != ops.front().getType();
          }))
        continue;
      for (WeightOp op : ops) {
        OpBuilder b(op);
        auto type = cast<RankedTensorType>(op.getType());
        auto packed = WeightOp::create(
            b, op.getLoc(),
            RankedTensorType::get(
                {type.getDimSize(0) / kGroup, type.getDimSize(1),
                 DequantizeOp::blockBytes(BlockFormat::q4_0x8)},
                type.getElementType()),
            name);
        packed->setAttr(kPackedFromAttr, b.getStringAttr("q4_0"));
        for (Operation *user : llvm::make_early_inc_range(op->getUsers())) {
          auto dequantize = cast<DequantizeOp>(user);
          OpBuilder ub(dequantize);
          auto read = DequantizeOp::create(ub, dequantize.getLoc(),
                                           dequantize.getType(), packed,
                                           BlockFormat::q4_0x8);
          dequantize.getResult().replaceAllUsesWith(read.getResult());
          dequantize.erase();
        }
        op.erase();
      }
    }
  }
};

} // namespace
