//===- TileParallelLoopsForGpu.cpp - parallel loops as blocks x threads ---===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// loom-tile-parallel-loops-for-gpu: the step of the NVIDIA pipeline
// (buildGpuKernelsPipeline) that shapes each parallel loop into a grid of
// blocks of a constant number of threads before upstream maps it.
//
//===----------------------------------------------------------------------===//

#include "ContractionLoops.h"
#include "loom/Codegen/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/Transforms/ParallelLoopMapper.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"

namespace mlir::loom {
#define GEN_PASS_DEF_LOOMTILEPARALLELLOOPSFORGPUPASS
#include "loom/Codegen/Passes.h.inc"
} // namespace mlir::loom

using namespace mlir;

namespace {

/// `loop` with dimension `d` moved to the front, the others in order.
scf::ParallelOp moveDimensionFirst(RewriterBase &rewriter, scf::ParallelOp loop,
                                   unsigned d) {
  SmallVector<unsigned> order = {d};
  for (unsigned i = 0; i < loop.getNumLoops(); ++i)
    if (i != d)
      order.push_back(i);
  auto permuted = [&](ValueRange values) {
    SmallVector<Value> out;
    for (unsigned i : order)
      out.push_back(values[i]);
    return out;
  };
  rewriter.setInsertionPoint(loop);
  auto moved = scf::ParallelOp::create(
      rewriter, loop.getLoc(), permuted(loop.getLowerBound()),
      permuted(loop.getUpperBound()), permuted(loop.getStep()));
  // The old body, its induction variables taken from their new places.
  Block *body = moved.getBody();
  rewriter.eraseOp(body->getTerminator());
  SmallVector<Value> ivs(loop.getNumLoops());
  for (auto [to, from] : llvm::enumerate(order))
    ivs[from] = moved.getInductionVars()[to];
  rewriter.inlineBlockBefore(loop.getBody(), body, body->end(), ivs);
  rewriter.eraseOp(loop);
  return moved;
}

/// `copy` as an scf.parallel over its elements: dst[i] = src[i].
void copyAsParallelLoop(RewriterBase &rewriter, memref::CopyOp copy) {
  Location loc = copy.getLoc();
  rewriter.setInsertionPoint(copy);
  Value source = copy.getSource(), target = copy.getTarget();
  auto type = cast<MemRefType>(source.getType());
  Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
  Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
  SmallVector<Value> lower, upper, steps;
  for (int64_t d = 0; d < type.getRank(); ++d) {
    lower.push_back(zero);
    upper.push_back(memref::DimOp::create(rewriter, loc, source, d));
    steps.push_back(one);
  }
  if (type.getRank() == 0) {
    Value v = memref::LoadOp::create(rewriter, loc, source, ValueRange{});
    memref::StoreOp::create(rewriter, loc, v, target, ValueRange{});
  } else {
    scf::ParallelOp::create(rewriter, loc, lower, upper, steps,
                            [&](OpBuilder &b, Location l, ValueRange ivs) {
                              Value v =
                                  memref::LoadOp::create(b, l, source, ivs);
                              memref::StoreOp::create(b, l, v, target, ivs);
                            });
  }
  rewriter.eraseOp(copy);
}

struct TileParallelLoopsForGpu
    : loom::impl::LoomTileParallelLoopsForGpuPassBase<TileParallelLoopsForGpu> {
  using Base::Base;

  void runOnOperation() override {
    if (threads < 1) {
      getOperation().emitError("loom-tile-parallel-loops-for-gpu: threads "
                               "must be at least 1");
      return signalPassFailure();
    }
    IRRewriter rewriter(&getContext());
    // A copy between buffers (a KV cache row written in place) would be the
    // host's memrefCopy on device memory: it becomes a parallel loop of
    // loads and stores, a kernel like the rest.
    SmallVector<memref::CopyOp> copies;
    getOperation().walk([&](memref::CopyOp copy) {
      if (!copy->getParentOfType<scf::ParallelOp>())
        copies.push_back(copy);
    });
    for (memref::CopyOp copy : copies)
      copyAsParallelLoop(rewriter, copy);
    SmallVector<scf::ParallelOp> outermost;
    getOperation().walk([&](scf::ParallelOp loop) {
      // Loops already mapped (loom-reduce-across-gpu-threads) keep theirs.
      if (!loop->getParentOfType<scf::ParallelOp>() &&
          !loop->hasAttr(gpu::getMappingAttrName()))
        outermost.push_back(loop);
    });
    for (scf::ParallelOp loop : outermost) {
      unsigned rank = loop.getNumLoops();
      // The static trip count of each dimension, where it has one.
      SmallVector<std::optional<int64_t>> trips;
      for (unsigned d = 0; d < rank; ++d)
        trips.push_back(loom::detail::staticTripCount(loop.getLowerBound()[d],
                                                      loop.getUpperBound()[d],
                                                      loop.getStep()[d]));
      // A grid and a block have 3 dimensions each: the leading dimensions
      // of a deeper loop become one (its trip count the product). (A loop
      // with reductions is left as it is; upstream runs its dimensions past
      // the third in sequence.)
      if (rank > 3 && loop.getNumResults() == 0) {
        std::vector<unsigned> leading;
        std::optional<int64_t> product = 1;
        for (unsigned d = 0; d + 2 < rank; ++d) {
          leading.push_back(d);
          product = product && trips[d]
                        ? std::optional<int64_t>(*product * *trips[d])
                        : std::nullopt;
        }
        Operation *next = loop->getNextNode();
        rewriter.setInsertionPoint(loop);
        collapseParallelLoops(rewriter, loop,
                              {leading, {rank - 2}, {rank - 1}});
        loop = cast<scf::ParallelOp>(next->getPrevNode());
        trips = {product, trips[rank - 2], trips[rank - 1]};
        rank = 3;
      }
      // The threads take the innermost dimension with more than one
      // iteration (a batch or a reduced dimension of 1 gives them nothing),
      // as many as it has where that is fewer than `threads`.
      unsigned d = rank - 1;
      while (d > 0 && trips[d] == 1)
        --d;
      int64_t block = std::max<int64_t>(
          1, std::min<int64_t>(threads, trips[d].value_or(threads)));
      // That dimension first: upstream maps the dimensions in order to x, y
      // and z, and a block may have 1024 threads along x but only 64 along
      // z. (A loop with reductions keeps its order.)
      if (d != 0 && loop.getNumResults() == 0) {
        loop = moveDimensionFirst(rewriter, loop, d);
        d = 0;
      }
      SmallVector<int64_t> tiles(rank, 1);
      tiles[d] = block;
      scf::tileParallelLoop(loop, tiles, /*noMinMaxBounds=*/true);
    }
  }
};

} // namespace
