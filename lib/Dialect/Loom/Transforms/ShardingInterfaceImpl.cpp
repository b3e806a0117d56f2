//===- ShardingInterfaceImpl.cpp - how loom ops partition -----------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// External models of upstream interfaces for the ops expert parallelism
// partitions (the way upstream's Linalg/Transforms/ShardingInterfaceImpl.cpp
// does for linalg): the ShardingInterface of `loom.moe_expert_ffn` and of
// the ops that decode or widen a weight, and the memory effects of
// `mpi.allreduce`, which upstream does not declare. Registered with every
// other extension Loom uses (loom/InitAllDialects.h).
//
//===----------------------------------------------------------------------===//

#include "loom/Dialect/Loom/Transforms/ShardingInterfaceImpl.h"

#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MPI/IR/MPI.h"
#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "mlir/Dialect/Shard/Interfaces/ShardingInterface.h"
#include "mlir/Dialect/Shard/Interfaces/ShardingInterfaceImpl.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

using namespace mlir;
using namespace mlir::loom;

/// The expert FFN over experts [first, first + count) only: `op` with the
/// given (already local) weights and the matching `count + 1` offsets.
Value mlir::loom::detail::localExpertFfn(OpBuilder &b, MoeExpertFfnOp op,
                                         Value rows, Value offsets, Value gate,
                                         Value up, Value down, Value first,
                                         int64_t count) {
  Location loc = op.getLoc();
  Value localOffsets = tensor::ExtractSliceOp::create(
      b, loc, offsets, ArrayRef<OpFoldResult>{first},
      ArrayRef<OpFoldResult>{b.getIndexAttr(count + 1)},
      ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
  auto local = MoeExpertFfnOp::create(b, loc, op.getType(), rows, localOffsets,
                                      gate, up, down, op.getActivation());
  local->setDiscardableAttrs(op->getDiscardableAttrDictionary());
  return local.getResult();
}

namespace {

/// The ShardingInterface of `loom.moe_expert_ffn`: loops (row, feature,
/// expert), the expert loop a sum. With the stacked weights split along
/// the expert axis over one grid axis (and rows, offsets and result
/// replicated), each device runs the FFN of its own experts and the partial
/// results are all-reduced.
struct ExpertFfnSharding
    : shard::ShardingInterface::ExternalModel<ExpertFfnSharding,
                                              MoeExpertFfnOp> {
  SmallVector<utils::IteratorType> getLoopIteratorTypes(Operation *) const {
    return {utils::IteratorType::parallel, utils::IteratorType::parallel,
            utils::IteratorType::reduction};
  }
  SmallVector<shard::ReductionKind>
  getReductionLoopIteratorKinds(Operation *) const {
    return {shard::ReductionKind::Sum};
  }

  LogicalResult partition(Operation *op, ArrayRef<Value> operands,
                          ArrayRef<shard::Sharding> operandShardings,
                          ArrayRef<shard::Sharding> resultShardings,
                          IRMapping &map, SymbolTableCollection &symbols,
                          OpBuilder &b) const {
    auto ffn = cast<MoeExpertFfnOp>(op);
    auto replicated = [](const shard::Sharding &s) {
      return !s || shard::isFullReplication(s);
    };
    ArrayRef<shard::Sharding> weights = operandShardings.drop_front(2);
    if (llvm::all_of(weights, replicated)) {
      shard::partitionFullyReplicatedOperation(
          *op, operands, operandShardings, resultShardings, map, symbols, b);
      return success();
    }
    const shard::Sharding &gate = weights[0];
    auto splitOnExperts = [&](const shard::Sharding &s) {
      return s && s.getGridAttr() == gate.getGridAttr() &&
             s.equalSplitAxes(gate) && s.getSplitAxes().size() == 1 &&
             s.getSplitAxes()[0].size() == 1;
    };
    if (!llvm::all_of(weights, splitOnExperts) ||
        !replicated(operandShardings[0]) || !replicated(operandShardings[1]) ||
        !replicated(resultShardings[0]))
      return op->emitOpError("can be partitioned only with its expert weights "
                             "split along the expert axis over one grid axis "
                             "and its rows, offsets and result replicated");
    shard::GridOp grid = shard::getGrid(op, gate.getGridAttr(), symbols);
    shard::GridAxis axis = gate.getSplitAxes()[0].asArrayRef()[0];
    int64_t count = cast<RankedTensorType>(operands[2].getType()).getDimSize(0);
    Location loc = op->getLoc();
    Value device =
        shard::ProcessMultiIndexOp::create(b, loc, grid.getSymName(),
                                           ArrayRef<shard::GridAxis>{axis})
            .getResult()[0];
    Value first = arith::MulIOp::create(
        b, loc, device, arith::ConstantIndexOp::create(b, loc, count));
    Value local = loom::detail::localExpertFfn(b, ffn, operands[0], operands[1],
                                               operands[2], operands[3],
                                               operands[4], first, count);
    Value all = shard::AllReduceOp::create(
        b, loc, local.getType(), grid.getSymName(),
        ArrayRef<shard::GridAxis>{axis}, local, shard::ReductionKind::Sum);
    map.map(op->getResult(0), all);
    return success();
  }
};

/// Ops that decode or widen a weight: their result is sharded as their
/// operand is, so each device decodes its own slice.
template <typename OpTy>
struct FollowOperandSharding
    : shard::ShardingInterface::ExternalModel<FollowOperandSharding<OpTy>,
                                              OpTy> {
  LogicalResult partition(Operation *op, ArrayRef<Value> operands,
                          ArrayRef<shard::Sharding> operandShardings,
                          ArrayRef<shard::Sharding> resultShardings,
                          IRMapping &map, SymbolTableCollection &symbols,
                          OpBuilder &b) const {
    const shard::Sharding &s = resultShardings[0];
    if (!s || shard::isFullReplication(s)) {
      shard::partitionFullyReplicatedOperation(
          *op, operands, operandShardings, resultShardings, map, symbols, b);
      return success();
    }
    if (operandShardings[0] != s)
      return op->emitOpError("expected its operand sharded as its result");
    shard::GridOp grid = shard::getGrid(op, s.getGridAttr(), symbols);
    Operation *clone = b.clone(*op, map);
    clone->getResult(0).setType(
        shard::shardType(op->getResult(0).getType(), grid, s));
    return success();
  }
};

/// mpi.allreduce reads its send buffer and writes its receive buffer; said
/// so, bufferization and the kernel scheduler can place it like any op.
struct AllReduceEffects
    : MemoryEffectOpInterface::ExternalModel<AllReduceEffects,
                                             mpi::AllReduceOp> {
  void
  getEffects(Operation *op,
             SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
                 &effects) const {
    auto reduce = cast<mpi::AllReduceOp>(op);
    effects.emplace_back(MemoryEffects::Read::get(), &reduce->getOpOperand(0),
                         SideEffects::DefaultResource::get());
    effects.emplace_back(MemoryEffects::Write::get(), &reduce->getOpOperand(1),
                         SideEffects::DefaultResource::get());
  }
};

} // namespace

void mlir::loom::registerShardingInterfaceModels(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, mpi::MPIDialect *) {
    mpi::AllReduceOp::attachInterface<AllReduceEffects>(*ctx);
  });
  registry.addExtension(+[](MLIRContext *ctx, LoomDialect *) {
    MoeExpertFfnOp::attachInterface<ExpertFfnSharding>(*ctx);
    DequantizeOp::attachInterface<FollowOperandSharding<DequantizeOp>>(*ctx);
  });
  registry.addExtension(+[](MLIRContext *ctx, arith::ArithDialect *) {
    arith::ExtFOp::attachInterface<FollowOperandSharding<arith::ExtFOp>>(*ctx);
  });
}
