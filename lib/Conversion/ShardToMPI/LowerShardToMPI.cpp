//===- LowerShardToMPI.cpp - the expert grid as MPI ranks -----------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// Maps the one-dimensional grid of loom-shard-experts' SPMD form onto the
// ranks of MPI_COMM_WORLD, on tensors (before bufferization):
//
//   shard.process_multi_index on @g axes = [0]
//     -> the rank (mpi.comm_rank of mpi.comm_world)
//   shard.all_reduce %x on @g grid_axes = [0] (sum)
//     -> mpi.allreduce from %x's buffer into a new one, MPI_SUM
//
// and adds `loom_mpi_rank()`, which the runtime calls to pick each rank's
// slice of the weights.
// Upstream convert-shard-to-mpi splits a communicator per collective and
// does not yet handle the dynamic row count of the expert rows; the grid
// here is one axis over the whole world, so neither is needed.
//
//===----------------------------------------------------------------------===//

#include "loom/Conversion/Passes.h"
#include "loom/Dialect/Loom/Transforms/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/DLTI/DLTI.h"
#include "mlir/Dialect/MPI/IR/MPI.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Shard/IR/ShardOps.h"

namespace mlir::loom {
#define GEN_PASS_DEF_LOOMLOWERSHARDTOMPIPASS
#include "loom/Conversion/Passes.h.inc"
} // namespace mlir::loom

using namespace mlir;
using namespace mlir::loom;

namespace {

Value worldRank(OpBuilder &b, Location loc) {
  Value world =
      mpi::CommWorldOp::create(b, loc, mpi::CommType::get(b.getContext()));
  return mpi::CommRankOp::create(b, loc, Type(), b.getI32Type(), world)
      .getRank();
}

struct LoomLowerShardToMPIPass
    : loom::impl::LoomLowerShardToMPIPassBase<LoomLowerShardToMPIPass> {
  using Base::Base;

  void getDependentDialects(DialectRegistry &registry) const override {
    Base::getDependentDialects(registry);
    registerShardingInterfaceModels(registry); // mpi.allreduce's effects
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTableCollection symbols;
    bool any = false;
    WalkResult walk = module.walk([&](Operation *op) -> WalkResult {
      if (auto index = dyn_cast<shard::ProcessMultiIndexOp>(op)) {
        shard::GridOp grid = shard::getGrid(index, symbols);
        if (!grid || grid.getRank() != 1)
          return index.emitOpError(
              "loom-lower-shard-to-mpi maps one-dimensional "
              "grids only");
        OpBuilder b(index);
        Value rank = arith::IndexCastOp::create(
            b, index.getLoc(), b.getIndexType(), worldRank(b, index.getLoc()));
        index.getResult()[0].replaceAllUsesWith(rank);
        index.erase();
        any = true;
        return WalkResult::skip();
      }
      if (auto reduce = dyn_cast<shard::AllReduceOp>(op)) {
        shard::GridOp grid = shard::getGrid(reduce, symbols);
        auto type = dyn_cast<RankedTensorType>(reduce.getInput().getType());
        if (!grid || grid.getRank() != 1 ||
            reduce.getReduction() != shard::ReductionKind::Sum || !type ||
            reduce.getType() != type)
          return reduce.emitOpError("loom-lower-shard-to-mpi maps sums of "
                                    "tensors over one-dimensional grids only");
        OpBuilder b(reduce);
        Location loc = reduce.getLoc();
        auto memrefType =
            MemRefType::get(type.getShape(), type.getElementType());
        Value in = bufferization::ToBufferOp::create(b, loc, memrefType,
                                                     reduce.getInput(),
                                                     /*read_only=*/true);
        SmallVector<Value> sizes;
        for (int64_t d = 0; d < type.getRank(); ++d)
          if (type.isDynamicDim(d))
            sizes.push_back(memref::DimOp::create(b, loc, in, d));
        Value out = memref::AllocOp::create(b, loc, memrefType, sizes,
                                            b.getI64IntegerAttr(64));
        Value world = mpi::CommWorldOp::create(
            b, loc, mpi::CommType::get(b.getContext()));
        // As one run of elements: the MPI lowering counts the elements of
        // the leading dimension only.
        auto flat = [&](Value m) -> Value {
          if (type.getRank() == 1)
            return m;
          ReassociationIndices all;
          for (int64_t d = 0; d < type.getRank(); ++d)
            all.push_back(d);
          return memref::CollapseShapeOp::create(
              b, loc, m, ArrayRef<ReassociationIndices>{all});
        };
        mpi::AllReduceOp::create(b, loc, Type(), flat(in), flat(out),
                                 mpi::MPI_ReductionOpEnum::MPI_SUM, world);
        Value result = bufferization::ToTensorOp::create(
            b, loc, type, out, /*restrict=*/true, /*writable=*/true);
        reduce.getResult().replaceAllUsesWith(result);
        reduce.erase();
        any = true;
        return WalkResult::skip();
      }
      if (isa<shard::ShardingOp, shard::ShardOp>(op))
        return op->emitOpError("is left for loom-lower-shard-to-mpi: run "
                               "shard-partition first");
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return signalPassFailure();
    if (!any)
      return;
    // The grid is the world now.
    for (auto grid : llvm::make_early_inc_range(module.getOps<shard::GridOp>()))
      grid.erase();
    MLIRContext *ctx = module.getContext();
    // MPIToLLVM reads the implementation whose ABI it targets from here.
    module->setAttr(
        "dlti.map",
        MapAttr::get(ctx, {DataLayoutEntryAttr::get(
                              StringAttr::get(ctx, "MPI:Implementation"),
                              StringAttr::get(ctx, implementation))}));
    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    Location loc = module.getLoc();
    auto fn = func::FuncOp::create(b, loc, "loom_mpi_rank",
                                   b.getFunctionType({}, {b.getI32Type()}));
    fn->setAttr(kRuntimeHelperAttr, b.getUnitAttr());
    OpBuilder body = OpBuilder::atBlockBegin(fn.addEntryBlock());
    func::ReturnOp::create(body, loc, worldRank(body, loc));
  }
};

} // namespace
