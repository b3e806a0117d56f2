//===- WeightsToArguments.cpp - named weights into leading arguments ------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom/Dialect/Loom/Transforms/Passes.h"

#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/MapVector.h"

namespace mlir::loom {
#define GEN_PASS_DEF_LOOMWEIGHTSTOARGUMENTSPASS
#include "loom/Dialect/Loom/Transforms/Passes.h.inc"
} // namespace mlir::loom

using namespace mlir;
using namespace mlir::loom;

namespace {

struct LoomWeightsToArgumentsPass
    : loom::impl::LoomWeightsToArgumentsPassBase<LoomWeightsToArgumentsPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    // Distinct names in order of first use, with every op reading each.
    llvm::MapVector<StringRef, SmallVector<WeightOp>> byName;
    func.walk([&](WeightOp op) { byName[op.getName()].push_back(op); });
    if (byName.empty())
      return;
    OpBuilder b(func);
    unsigned index = 0;
    for (auto &[name, ops] : byName) {
      Type type = ops.front().getType();
      for (WeightOp op : ops) {
        if (op.getType() != type) {
          op.emitOpError("reads weight '")
              << name << "' as " << op.getType()
              << ", but another read of it is " << type;
          return signalPassFailure();
        }
      }
      SmallVector<NamedAttribute> attrs = {
          b.getNamedAttr(kWeightArgAttr, b.getStringAttr(name))};
      if (Attribute from = ops.front()->getAttr(kPackedFromAttr))
        attrs.push_back(b.getNamedAttr(kPackedFromAttr, from));
      if (Attribute format = ops.front()->getAttr(kBlockFormatAttr))
        attrs.push_back(b.getNamedAttr(kBlockFormatAttr, format));
      if (Attribute t = ops.front()->getAttr(kStoredTransposedAttr))
        attrs.push_back(b.getNamedAttr(kStoredTransposedAttr, t));
      if (failed(func.insertArgument(index, type, b.getDictionaryAttr(attrs),
                                     ops.front().getLoc())))
        return signalPassFailure();
      BlockArgument arg = func.getArgument(index++);
      for (WeightOp op : ops) {
        op.getResult().replaceAllUsesWith(arg);
        op.erase();
      }
    }
  }
};

} // namespace
