//===- InterleaveWeights.cpp - block-quantized matrices, 8 rows at a time -===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// q4_0 and q8_0 matrices of linear layers are read as q4_0x8 and q8_0x8:
// the blocks of 8 rows interleaved, which the runtime makes from the file's
// blocks once at load.
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

/// The format of `weight` if it holds q4_0 or q8_0 blocks ([n, blocks,
/// bytes], n a multiple of the interleaved form's rows per block) that only
/// linear layers read (as their weight, through loom.dequantize).
std::optional<BlockFormat> feedsOnlyLinearLayers(WeightOp weight) {
  auto type = cast<RankedTensorType>(weight.getType());
  if (weight->hasAttr(kPackedFromAttr) || type.getRank() != 3 ||
      !type.hasStaticShape() || !type.getElementType().isInteger(8) ||
      weight->use_empty())
    return std::nullopt;
  std::optional<BlockFormat> format;
  for (Operation *user : weight->getUsers()) {
    auto dequantize = dyn_cast<DequantizeOp>(user);
    std::optional<BlockFormat> interleaved =
        dequantize ? DequantizeOp::interleavedForm(dequantize.getFormat())
                   : std::nullopt;
    if (!interleaved || (format && dequantize.getFormat() != *format) ||
        type.getDimSize(2) !=
            DequantizeOp::blockBytes(dequantize.getFormat()) ||
        type.getDimSize(0) % DequantizeOp::blockRows(*interleaved) != 0 ||
        dequantize->use_empty())
      return std::nullopt;
    format = dequantize.getFormat();
    for (OpOperand &use : dequantize->getUses()) {
      auto linear = dyn_cast<LinearOp>(use.getOwner());
      if (!linear || use.get() != linear.getWeight() ||
          use.get() == linear.getInput())
        return std::nullopt;
    }
  }
  return format;
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
    for (auto &entry : byName) {
      StringAttr name = entry.first;
      SmallVector<WeightOp> &ops = entry.second;
      std::optional<BlockFormat> format = feedsOnlyLinearLayers(ops.front());
      if (!format || llvm::any_of(ops, [&](WeightOp op) {
            return op.getType() != ops.front().getType() ||
                   feedsOnlyLinearLayers(op) != format;
          }))
        continue;
      BlockFormat interleaved = *DequantizeOp::interleavedForm(*format);
      for (WeightOp op : ops) {
        OpBuilder b(op);
        auto type = cast<RankedTensorType>(op.getType());
        auto packed = WeightOp::create(
            b, op.getLoc(),
            RankedTensorType::get(
                {type.getDimSize(0) / DequantizeOp::blockRows(interleaved),
                 type.getDimSize(1), DequantizeOp::blockBytes(interleaved)},
                type.getElementType()),
            name);
        packed->setAttr(kPackedFromAttr,
                        b.getStringAttr(stringifyBlockFormat(*format)));
        for (Operation *user : llvm::make_early_inc_range(op->getUsers())) {
          auto dequantize = cast<DequantizeOp>(user);
          OpBuilder ub(dequantize);
          auto read =
              DequantizeOp::create(ub, dequantize.getLoc(),
                                   dequantize.getType(), packed, interleaved);
          dequantize.getResult().replaceAllUsesWith(read.getResult());
          dequantize.erase();
        }
        op.erase();
      }
    }
  }
};

} // namespace
