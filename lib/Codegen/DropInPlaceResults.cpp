//===- DropInPlaceResults.cpp - results that are arguments ----------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
//===----------------------------------------------------------------------===//

#include "loom/Codegen/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/BitVector.h"

namespace mlir::loom {
#define GEN_PASS_DEF_LOOMDROPINPLACERESULTSPASS
#include "loom/Codegen/Passes.h.inc"
} // namespace mlir::loom

using namespace mlir;
using namespace mlir::loom;

namespace {
struct LoomDropInPlaceResultsPass
    : loom::impl::LoomDropInPlaceResultsPassBase<LoomDropInPlaceResultsPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    SmallVector<func::ReturnOp> returns;
    func.walk([&](func::ReturnOp r) { returns.push_back(r); });
    if (returns.size() != 1)
      return; // several exits: leave the signature alone
    func::ReturnOp ret = returns.front();
    llvm::BitVector drop(ret.getNumOperands());
    OpBuilder b(func);
    for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
      auto arg = dyn_cast<BlockArgument>(v);
      if (!arg || arg.getOwner() != &func.getBody().front() ||
          !isa<BaseMemRefType>(v.getType()))
        continue;
      if (func.getArgAttr(arg.getArgNumber(), kInPlaceResultAttr))
        continue; // one argument, returned twice: keep the second
      func.setArgAttr(arg.getArgNumber(), kInPlaceResultAttr,
                      b.getI64IntegerAttr(i));
      drop.set(i);
    }
    if (drop.none())
      return;
    SmallVector<Value> kept;
    for (auto [i, v] : llvm::enumerate(ret.getOperands()))
      if (!drop.test(i))
        kept.push_back(v);
    ret.getOperandsMutable().assign(kept);
    if (failed(func.eraseResults(drop)))
      return signalPassFailure();
  }
};
} // namespace
