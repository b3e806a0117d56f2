//===- ShardExperts.cpp - expert parallelism for MoE layers ---------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Places the experts of every `loom.moe_expert_ffn` on the devices of a
// one-dimensional grid, each device holding `experts / grid` of them. Two
// forms:
//
//  - SPMD (the default): the function is annotated with upstream `shard`
//    shardings (the stacked expert weights split along the expert axis,
//    every other tensor replicated) and partitioned by upstream
//    `shard-partition` into the program one device runs: its slice of the
//    expert weights, the expert FFN over its own experts' rows, and an
//    `shard.all_reduce` (sum) that gives every device all rows back. The
//    routing, dispatch and dense layers are replicated, so the tokens each
//    device's experts need are already there; the collective is the one
//    exchange per MoE layer.
//
//  - In-process (`spmd=false`): the grid lives in one process. Each expert
//    FFN becomes `grid` FFNs, one per shard, over slices of the weights (no
//    copies), whose results are summed in place of the all-reduce. The
//    shards are independent of each other, so the kernel schedule puts
//    them side by side and the runtime's flow graph runs them concurrently.
//
// Both rest on one property of `loom.moe_expert_ffn`: rows of no expert it
// holds are zero, so the sum over shards is the whole result, and exact
// (each row is computed by exactly one shard).
//
//===----------------------------------------------------------------------===//

#include "loom/Dialect/Loom/IR/LoomOps.h"
#include "loom/Dialect/Loom/Transforms/Passes.h"
#include "loom/Dialect/Loom/Transforms/ShardingInterfaceImpl.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "mlir/Dialect/Shard/Transforms/Passes.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/MapVector.h"

namespace mlir::loom {
#define GEN_PASS_DEF_LOOMSHARDEXPERTSPASS
#include "loom/Dialect/Loom/Transforms/Passes.h.inc"
} // namespace mlir::loom

using namespace mlir;
using namespace mlir::loom;

namespace {

/// Experts [first, first + count) of stacked expert weights `w`
/// ([experts, ...]). A weight decoded by `loom.dequantize` or widened by
/// `arith.extf` is sliced before that op, which is then applied to the
/// slice, so the lowering still sees (and decodes in place) the stored form.
Value sliceExperts(OpBuilder &b, Location loc, Value w, Value first,
                   int64_t count) {
  auto slice = [&](Value v) -> Value {
    auto type = cast<RankedTensorType>(v.getType());
    SmallVector<OpFoldResult> offsets = {first},
                              sizes = {b.getIndexAttr(count)},
                              strides(type.getRank(), b.getIndexAttr(1));
    for (int64_t d = 1; d < type.getRank(); ++d) {
      offsets.push_back(b.getIndexAttr(0));
      sizes.push_back(b.getIndexAttr(type.getDimSize(d)));
    }
    return tensor::ExtractSliceOp::create(b, loc, v, offsets, sizes, strides);
  };
  auto localType = [&](Value v) {
    auto type = cast<RankedTensorType>(v.getType());
    SmallVector<int64_t> shape(type.getShape());
    shape[0] = count;
    return RankedTensorType::get(shape, type.getElementType());
  };
  if (auto dq = w.getDefiningOp<DequantizeOp>())
    return DequantizeOp::create(b, loc, localType(w), slice(dq.getInput()),
                                dq.getFormat());
  if (auto ext = w.getDefiningOp<arith::ExtFOp>())
    return arith::ExtFOp::create(b, loc, localType(w), slice(ext.getIn()));
  return slice(w);
}

/// The stacked expert weights of `op`, looking through the decoding op:
/// the values that hold all experts and must be split.
SmallVector<Value> expertWeightChain(MoeExpertFfnOp op) {
  SmallVector<Value> chain;
  for (Value w : {op.getGate(), op.getUp(), op.getDown()}) {
    chain.push_back(w);
    if (auto dq = w.getDefiningOp<DequantizeOp>())
      chain.push_back(dq.getInput());
    else if (auto ext = w.getDefiningOp<arith::ExtFOp>())
      chain.push_back(ext.getIn());
  }
  return chain;
}

struct LoomShardExpertsPass
    : loom::impl::LoomShardExpertsPassBase<LoomShardExpertsPass> {
  using Base::Base;

  void getDependentDialects(DialectRegistry &registry) const override {
    Base::getDependentDialects(registry);
    registerShardingInterfaceModels(registry);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    int64_t devices = grid;
    if (devices < 1) {
      mlir::emitError(module.getLoc(),
                      "loom-shard-experts: grid must be at least 1, got ")
          << devices;
      return signalPassFailure();
    }
    SmallVector<MoeExpertFfnOp> ffns;
    module.walk([&](MoeExpertFfnOp op) { ffns.push_back(op); });
    for (MoeExpertFfnOp op : ffns) {
      int64_t experts =
          cast<RankedTensorType>(op.getGate().getType()).getDimSize(0);
      if (ShapedType::isDynamic(experts) || experts % devices != 0) {
        op.emitOpError() << "has " << experts << " experts, which a grid of "
                         << devices << " devices does not divide evenly";
        return signalPassFailure();
      }
    }
    if (ffns.empty() || devices == 1)
      return;
    if (!spmd) {
      for (MoeExpertFfnOp op : ffns)
        splitInProcess(op);
      return;
    }
    if (failed(partitionSpmd(module, ffns)))
      signalPassFailure();
  }

  /// `grid` FFNs over slices of the experts, summed.
  void splitInProcess(MoeExpertFfnOp op) {
    OpBuilder b(op);
    Location loc = op.getLoc();
    int64_t count =
        cast<RankedTensorType>(op.getGate().getType()).getDimSize(0) / grid;
    SmallVector<Value> parts;
    for (int64_t s = 0; s < grid; ++s) {
      Value first = arith::ConstantIndexOp::create(b, loc, s * count);
      Value part = loom::detail::localExpertFfn(
          b, op, op.getInput(), op.getOffsets(),
          sliceExperts(b, loc, op.getGate(), first, count),
          sliceExperts(b, loc, op.getUp(), first, count),
          sliceExperts(b, loc, op.getDown(), first, count), first, count);
      part.getDefiningOp()->setAttr(kExpertShardAttr, b.getI64IntegerAttr(s));
      parts.push_back(part);
    }
    // A balanced sum: neighbouring partial results pair up at each level.
    while (parts.size() > 1) {
      SmallVector<Value> next;
      for (size_t i = 0; i + 1 < parts.size(); i += 2)
        next.push_back(arith::AddFOp::create(b, loc, parts[i], parts[i + 1]));
      if (parts.size() % 2)
        next.push_back(parts.back());
      parts = std::move(next);
    }
    op.replaceAllUsesWith(parts.front());
    op.erase();
  }

  /// Annotates every function holding an expert FFN and partitions it.
  LogicalResult partitionSpmd(ModuleOp module, ArrayRef<MoeExpertFfnOp> ffns) {
    // Grouped by function before any is partitioned: partitioning a function
    // erases its ops, which must not be visited again (found by ASan).
    llvm::MapVector<func::FuncOp, SmallVector<MoeExpertFfnOp>> funcs;
    for (MoeExpertFfnOp op : ffns)
      funcs[op->getParentOfType<func::FuncOp>()].push_back(op);
    OpBuilder b(module.getBodyRegion());
    StringRef gridName = kExpertGridName;
    if (!SymbolTable::lookupSymbolIn(module, gridName))
      shard::GridOp::create(b, module.getLoc(), gridName,
                            ArrayRef<int64_t>{grid});
    for (auto &[func, funcFfns] : funcs) {
      if (!func.getBody().hasOneBlock())
        return func.emitError(
            "loom-shard-experts: expected a function of one block");
      DenseSet<Value> split;
      for (MoeExpertFfnOp op : funcFfns) {
        for (Value v : expertWeightChain(op)) {
          // The stored weights must be arguments: a device is handed its
          // slice of them.
          if (!isa<BlockArgument>(v) && !v.getDefiningOp<DequantizeOp>() &&
              !v.getDefiningOp<arith::ExtFOp>())
            return op.emitOpError("expects its expert weights as function "
                                  "arguments (run loom-weights-to-arguments "
                                  "first); found one made by ")
                   << v.getDefiningOp()->getName();
          split.insert(v);
        }
      }
      splatsAsFills(func);
      annotate(func, split);
      if (!partition)
        continue;
      // The runtime binds each rank its slice of these.
      for (BlockArgument arg : func.getArguments())
        if (split.contains(arg))
          func.setArgAttr(arg.getArgNumber(), kShardArgAttr,
                          OpBuilder(func).getI64IntegerAttr(grid));
      OpPassManager pm(func::FuncOp::getOperationName());
      pm.addPass(shard::createPartition());
      if (failed(runPipeline(pm, func)))
        return failure();
    }
    return success();
  }

  /// Upstream's partition of a `tensor.splat` with dynamic sizes (through
  /// the tensor dialect's ShardingInterface model, where registered) takes
  /// the splatted value for the first size; as `tensor.empty` + `linalg.fill`
  /// the same tensor partitions correctly.
  static void splatsAsFills(func::FuncOp func) {
    SmallVector<tensor::SplatOp> splats;
    func.walk([&](tensor::SplatOp op) {
      if (!op.getType().hasStaticShape())
        splats.push_back(op);
    });
    for (tensor::SplatOp op : splats) {
      OpBuilder b(op);
      Value empty = tensor::EmptyOp::create(b, op.getLoc(), op.getType(),
                                            op.getDynamicSizes());
      Value fill = linalg::FillOp::create(b, op.getLoc(), op.getInput(), empty)
                       .getResult(0);
      op.replaceAllUsesWith(fill);
      op.erase();
    }
  }

  /// Gives every ranked tensor of `func` a sharding: `split` values along
  /// the expert axis, all others replicated. Each value v becomes
  ///   %a = shard.shard %v to %s
  ///   %b = shard.shard %a to %s annotate_for_users
  /// with every former use of v reading %b, as shard-partition expects.
  void annotate(func::FuncOp func, const DenseSet<Value> &split) {
    Block &body = func.getBody().front();
    OpBuilder b = OpBuilder::atBlockBegin(&body);
    Location loc = func.getLoc();
    auto axes = [&](ArrayRef<ArrayRef<shard::GridAxis>> list) {
      SmallVector<shard::GridAxesAttr> attrs;
      for (ArrayRef<shard::GridAxis> a : list)
        attrs.push_back(shard::GridAxesAttr::get(b.getContext(), a));
      return attrs;
    };
    FlatSymbolRefAttr gridRef =
        FlatSymbolRefAttr::get(b.getContext(), kExpertGridName);
    Value replicated = shard::ShardingOp::create(b, loc, gridRef, axes({{}}));
    Value byExpert = shard::ShardingOp::create(b, loc, gridRef, axes({{0}}));
    auto annotateValue = [&](Value v) {
      auto type = dyn_cast<RankedTensorType>(v.getType());
      if (!type || type.getRank() == 0)
        return;
      Value sharding = split.contains(v) ? byExpert : replicated;
      auto result = shard::ShardOp::create(b, v.getLoc(), v, sharding, false);
      auto forUsers =
          shard::ShardOp::create(b, v.getLoc(), result, sharding, true);
      v.replaceAllUsesExcept(forUsers, result.getOperation());
    };
    for (BlockArgument arg : body.getArguments())
      annotateValue(arg);
    SmallVector<Operation *> ops;
    for (Operation &op : body)
      if (!isa<shard::ShardingOp, shard::ShardOp>(op))
        ops.push_back(&op);
    for (Operation *op : ops) {
      b.setInsertionPointAfter(op);
      for (Value r : op->getResults())
        annotateValue(r);
    }
  }
};

} // namespace
