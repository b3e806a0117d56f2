//===- ReduceAcrossGpuThreads.cpp - a block of threads per output ---------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// loom-reduce-across-gpu-threads: the step of the NVIDIA pipeline
// (addGpuLoops) that gives a linalg reduction with few outputs one block
// per output element, its threads sharing the reduction. What qualifies and
// the loops it makes: the pass's description in Passes.td.
//
//===----------------------------------------------------------------------===//

#include "loom/Codegen/Passes.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/ParallelLoopMapper.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/Support/MathExtras.h"

namespace mlir::loom {
#define GEN_PASS_DEF_LOOMREDUCEACROSSGPUTHREADSPASS
#define GEN_PASS_DEF_LOOMUNIFORMGPUREDUCTIONSPASS
#define GEN_PASS_DEF_LOOMREGISTERTILEGPUREDUCTIONSPASS
#include "loom/Codegen/Passes.h.inc"
} // namespace mlir::loom

using namespace mlir;

namespace {

/// A linalg reduction on buffers that both passes rewrite: one output, and
/// a payload that yields `combine(%out, value)` with `combine` one of the
/// combiners below (the value not depending on `%out`).
struct Reduction {
  linalg::LinalgOp op;
  Operation *combiner = nullptr;
  Type type; ///< the value's (and the accumulator's)
  SmallVector<int64_t> ranges;
  SmallVector<unsigned> parallel, reduced;
  OpOperand *init = nullptr;
  AffineMap outMap;
  BlockArgument outArg;
  /// A `linalg.fill` of the whole output right before the op, which the op
  /// then writes every element of once (its output map a permutation of its
  /// parallel dimensions, and the buffer not also an input): the rewrite
  /// starts from the fill's value and the fill goes, one kernel fewer.
  linalg::FillOp fill;

  /// The fill's value, or null: then the rewrite reads the old output.
  Value filled() { return fill ? fill.getInputs().front() : Value(); }

  /// Erases the op, rewritten, and the fill it took in.
  void erase() {
    op->erase();
    if (fill)
      fill->erase();
  }
};

std::optional<Reduction> analyzeReduction(linalg::LinalgOp op) {
  Block *body = op.getBlock();
  SmallVector<BlockArgument> outs(op.getRegionOutputArgs());
  if (outs.size() != 1)
    return std::nullopt;
  SmallVector<Operation *> combiners;
  Value value = matchReduction(outs, 0, combiners);
  if (!value || combiners.size() != 1)
    return std::nullopt;
  Reduction r;
  r.op = op;
  r.combiner = combiners.front();
  if (!isa<arith::AddFOp, arith::AddIOp, arith::MaximumFOp, arith::MaxNumFOp,
           arith::MinimumFOp, arith::MinNumFOp>(r.combiner))
    return std::nullopt;
  // The output is read by the combiner alone, and yielded as it made it.
  if (!outs.front().hasOneUse() ||
      body->getTerminator()->getOperand(0) != r.combiner->getResult(0))
    return std::nullopt;
  r.type = value.getType();
  r.ranges = op.getStaticLoopRanges();
  op.getParallelDims(r.parallel);
  op.getReductionDims(r.reduced);
  r.init = op.getDpsInitOperand(0);
  r.outMap = op.getMatchingIndexingMap(r.init);
  r.outArg = outs.front();
  auto fill = dyn_cast_or_null<linalg::FillOp>(op->getPrevNode());
  if (fill && fill.hasPureBufferSemantics() &&
      fill.getOutputs().front() == r.init->get() &&
      r.outMap.isProjectedPermutation() &&
      r.outMap.getNumResults() == op.getNumParallelLoops() &&
      !llvm::is_contained(op.getDpsInputs(), r.init->get()))
    r.fill = fill;
  return r;
}

/// The reductions on buffers in `func` that the passes rewrite, in order
/// (collected first: the passes replace them as they go).
SmallVector<Reduction> reductionsOnBuffers(func::FuncOp func) {
  SmallVector<Reduction> found;
  func.walk([&](linalg::LinalgOp op) {
    if (op.hasPureBufferSemantics() && op.getNumReductionLoops() > 0)
      if (std::optional<Reduction> r = analyzeReduction(op))
        found.push_back(std::move(*r));
  });
  return found;
}

/// The neutral element of `combiner`'s operation on `type`.
TypedAttr identityOf(Operation *combiner, Type type) {
  auto floatType = dyn_cast<FloatType>(type);
  if (isa<arith::AddIOp>(combiner))
    return IntegerAttr::get(type, 0);
  if (!floatType)
    return {};
  const llvm::fltSemantics &sem = floatType.getFloatSemantics();
  if (isa<arith::AddFOp>(combiner))
    return FloatAttr::get(type, APFloat::getZero(sem));
  bool isMax = isa<arith::MaximumFOp, arith::MaxNumFOp>(combiner);
  return FloatAttr::get(type, APFloat::getInf(sem, /*Negative=*/isMax));
}

/// `combiner`'s operation on `a` and `b`, with its fastmath flags.
Value combine(OpBuilder &b, Location loc, Operation *combiner, Value a,
              Value c) {
  OperationState state(loc, combiner->getName());
  state.addOperands({a, c});
  state.addTypes(a.getType());
  state.addAttributes(combiner->getAttrs());
  return b.create(state)->getResult(0);
}

/// The values of `map`'s results at `ivs`.
SmallVector<Value> applyMap(OpBuilder &b, Location loc, AffineMap map,
                            ValueRange ivs) {
  SmallVector<Value> out;
  for (AffineExpr e : map.getResults()) {
    if (auto dim = dyn_cast<AffineDimExpr>(e)) {
      out.push_back(ivs[dim.getPosition()]);
      continue;
    }
    out.push_back(affine::AffineApplyOp::create(
        b, loc, AffineMap::get(map.getNumDims(), 0, e), ivs));
  }
  return out;
}

/// `linear` split into indices of `sizes` (row-major: the last fastest).
/// A dimension of size 1 has index 0; the outermost other one takes the
/// quotient as it is.
SmallVector<Value> delinearize(OpBuilder &b, Location loc, Value linear,
                               ArrayRef<Value> sizes) {
  SmallVector<Value> out(sizes.size());
  SmallVector<size_t> wide;
  for (auto [i, size] : llvm::enumerate(sizes)) {
    if (isConstantIntValue(size, 1))
      out[i] = arith::ConstantIndexOp::create(b, loc, 0);
    else
      wide.push_back(i);
  }
  for (size_t k = wide.size(); k-- > 0;) {
    size_t i = wide[k];
    if (k == 0) {
      out[i] = linear;
      break;
    }
    out[i] = arith::RemUIOp::create(b, loc, linear, sizes[i]);
    linear = arith::DivUIOp::create(b, loc, linear, sizes[i]);
  }
  return out;
}

/// One element's contribution: the payload at `ivs` with the output
/// argument replaced by the accumulator `acc`; returns combine(acc, ...).
Value emitPayload(OpBuilder &b, Location loc, linalg::LinalgOp op,
                  ArrayRef<Value> ivs, BlockArgument outArg, Value acc,
                  Operation *combiner) {
  IRMapping map;
  for (OpOperand *input : op.getDpsInputOperands()) {
    BlockArgument arg = op.getMatchingBlockArgument(input);
    if (!isa<MemRefType>(input->get().getType())) {
      map.map(arg, input->get());
      continue;
    }
    SmallVector<Value> indices =
        applyMap(b, loc, op.getMatchingIndexingMap(input), ivs);
    map.map(arg, memref::LoadOp::create(b, loc, input->get(), indices));
  }
  map.map(outArg, acc);
  for (Operation &inner : op.getBlock()->without_terminator()) {
    if (auto index = dyn_cast<linalg::IndexOp>(inner)) {
      map.map(index.getResult(), ivs[index.getDim()]);
      continue;
    }
    b.clone(inner, map);
  }
  return map.lookup(combiner->getResult(0));
}

struct ReduceAcrossGpuThreads
    : loom::impl::LoomReduceAcrossGpuThreadsPassBase<ReduceAcrossGpuThreads> {
  using Base::Base;

  void runOnOperation() override {
    if (threads < 32 || threads > 1024 || !llvm::isPowerOf2_64(threads)) {
      getOperation().emitError("loom-reduce-across-gpu-threads: threads must "
                               "be a power of two from 32 to 1024");
      return signalPassFailure();
    }
    for (Reduction &r : reductionsOnBuffers(getOperation()))
      rewrite(r);
  }

  void rewrite(Reduction &r) {
    TypedAttr identity = identityOf(r.combiner, r.type);
    if (!identity)
      return;
    // The loops' sizes: every parallel one static, the outputs few enough.
    linalg::LinalgOp op = r.op;
    ArrayRef<int64_t> ranges = r.ranges;
    ArrayRef<unsigned> parallel = r.parallel, reduced = r.reduced;
    int64_t outputs = 1;
    for (unsigned d : parallel) {
      if (ShapedType::isDynamic(ranges[d]))
        return;
      outputs *= ranges[d];
    }
    std::optional<int64_t> length = 1;
    for (unsigned d : reduced)
      length = length && !ShapedType::isDynamic(ranges[d])
                   ? std::optional<int64_t>(*length * ranges[d])
                   : std::nullopt;
    if (outputs < 1 || outputs > maxOutputs ||
        (length && *length < minReduction))
      return;
    // A short static reduction gets as many threads as it has elements
    // (a warp at least); a dynamic one half the block.
    int64_t blockSize =
        length ? std::clamp<int64_t>(llvm::PowerOf2Ceil(*length), 32, threads)
               : std::max<int64_t>(threads / 2, 32);

    OpBuilder b(op);
    Location loc = op.getLoc();
    SmallVector<Range> loopRanges = op.createLoopRanges(b, loc);
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    Value grid = arith::ConstantIndexOp::create(b, loc, outputs);
    Value block = arith::ConstantIndexOp::create(b, loc, blockSize);
    SmallVector<Value> parallelSizes, reducedSizes;
    for (unsigned d : parallel)
      parallelSizes.push_back(
          getValueOrCreateConstantIndexOp(b, loc, loopRanges[d].size));
    Value reducedLength =
        length ? arith::ConstantIndexOp::create(b, loc, *length) : one;
    for (unsigned d : reduced) {
      Value size = getValueOrCreateConstantIndexOp(b, loc, loopRanges[d].size);
      reducedSizes.push_back(size);
      if (!length)
        reducedLength = arith::MulIOp::create(b, loc, reducedLength, size);
    }
    Value neutral = arith::ConstantOp::create(b, loc, identity);
    Operation *combiner = r.combiner;
    Value output = r.init->get(), filled = r.filled();

    auto outer = scf::ParallelOp::create(
        b, loc, zero, grid, one,
        [&](OpBuilder &gb, Location l, ValueRange outputIndex) {
          // This block's output element, and its loop indices.
          SmallVector<Value> ivs(op.getNumLoops());
          for (auto [d, iv] : llvm::zip(
                   parallel, delinearize(gb, l, outputIndex[0], parallelSizes)))
            ivs[d] = iv;
          // The output's old value, read by every thread before the
          // block's reduction (on the GPU a barrier inside it), so that no
          // thread reads what another has already stored.
          SmallVector<Value> outIndices = applyMap(gb, l, r.outMap, ivs);
          Value old = filled ? filled
                             : memref::LoadOp::create(gb, l, output, outIndices)
                                   .getResult();
          auto inner = scf::ParallelOp::create(
              gb, l, zero, block, one, ValueRange{neutral},
              [&](OpBuilder &tb, Location tl, ValueRange thread, ValueRange) {
                auto strided = scf::ForOp::create(
                    tb, tl, thread[0], reducedLength, block,
                    ValueRange{neutral},
                    [&](OpBuilder &rb, Location rl, Value element,
                        ValueRange acc) {
                      SmallVector<Value> all(ivs);
                      for (auto [d, iv] :
                           llvm::zip(reduced, delinearize(rb, rl, element,
                                                          reducedSizes)))
                        all[d] = iv;
                      scf::YieldOp::create(rb, rl,
                                           emitPayload(rb, rl, op, all,
                                                       r.outArg, acc.front(),
                                                       combiner));
                    });
                auto reduce = scf::ReduceOp::create(
                    tb, tl, ValueRange{strided.getResult(0)});
                // The builder makes the region's block and its arguments.
                Block &region = reduce.getReductions()[0].front();
                OpBuilder rb = OpBuilder::atBlockEnd(&region);
                scf::ReduceReturnOp::create(rb, tl,
                                            combine(rb, tl, combiner,
                                                    region.getArgument(0),
                                                    region.getArgument(1)));
              });
          // Every thread has the block's total and stores the same value.
          Value total = combine(gb, l, combiner, old, inner.getResult(0));
          memref::StoreOp::create(gb, l, total, output, outIndices);
          (void)gpu::setMappingAttr(inner,
                                    {mapping(gb, gpu::Processor::ThreadX)});
        });
    (void)gpu::setMappingAttr(outer, {mapping(b, gpu::Processor::BlockX)});
    r.erase();
  }

  static gpu::ParallelLoopDimMappingAttr mapping(OpBuilder &b,
                                                 gpu::Processor processor) {
    AffineMap identity = b.getDimIdentityMap();
    return b.getAttr<gpu::ParallelLoopDimMappingAttr>(processor, identity,
                                                      identity);
  }
};

struct UniformGpuReductions
    : loom::impl::LoomUniformGpuReductionsPassBase<UniformGpuReductions> {
  void runOnOperation() override {
    getOperation().walk([](gpu::AllReduceOp reduce) {
      if (isa<gpu::LaunchOp>(reduce->getParentOp()))
        reduce.setUniform(true);
    });
  }
};

struct RegisterTileGpuReductions
    : loom::impl::LoomRegisterTileGpuReductionsPassBase<
          RegisterTileGpuReductions> {
  using Base::Base;

  void runOnOperation() override {
    if (tileRows < 1 || tileCols < 1 || tileRows * tileCols > 64) {
      getOperation().emitError("loom-register-tile-gpu-reductions: a tile "
                               "has 1 to 64 elements");
      return signalPassFailure();
    }
    for (Reduction &r : reductionsOnBuffers(getOperation()))
      rewrite(r);
  }

  void rewrite(Reduction &r) {
    linalg::LinalgOp op = r.op;
    ArrayRef<int64_t> ranges = r.ranges;
    ArrayRef<unsigned> parallel = r.parallel, reduced = r.reduced;
    // The tile's columns: the last parallel dimension with more than one
    // iteration; its rows: the one before it.
    SmallVector<unsigned> wide;
    for (unsigned d : parallel)
      if (ranges[d] != 1)
        wide.push_back(d);
    if (wide.size() < 2)
      return;
    unsigned rowDim = wide[wide.size() - 2], colDim = wide.back();
    int64_t rows = tileRows, cols = tileCols;
    auto tileOf = [&](unsigned d) -> int64_t {
      return d == rowDim ? rows : d == colDim ? cols : 1;
    };

    OpBuilder b(op);
    Location loc = op.getLoc();
    SmallVector<Range> loopRanges = op.createLoopRanges(b, loc);
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    // The loop runs over tiles with step 1 (upstream's tiling into blocks
    // takes unit steps); a tile's first row and column are its index times
    // the tile's size.
    SmallVector<Value> lower, upper, steps;
    Value rowCount, colCount;
    for (unsigned d : parallel) {
      Value size = getValueOrCreateConstantIndexOp(b, loc, loopRanges[d].size);
      int64_t tile = tileOf(d);
      if (d == rowDim)
        rowCount = size;
      if (d == colDim)
        colCount = size;
      lower.push_back(zero);
      upper.push_back(
          tile == 1
              ? size
              : arith::CeilDivUIOp::create(
                    b, loc, size, arith::ConstantIndexOp::create(b, loc, tile))
                    .getResult());
      steps.push_back(one);
    }
    // A row or column past the end is computed on the last one (its loads
    // stay in bounds) and not stored; none is where the tile divides the
    // dimension.
    bool rowsExact =
        !ShapedType::isDynamic(ranges[rowDim]) && ranges[rowDim] % rows == 0;
    bool colsExact =
        !ShapedType::isDynamic(ranges[colDim]) && ranges[colDim] % cols == 0;
    Value output = r.init->get(), filled = r.filled();

    scf::ParallelOp::create(
        b, loc, lower, upper, steps,
        [&](OpBuilder &pb, Location l, ValueRange tileIvs) {
          SmallVector<Value> base(op.getNumLoops());
          for (auto [d, iv] : llvm::zip(parallel, tileIvs)) {
            int64_t tile = tileOf(d);
            base[d] = tile == 1
                          ? iv
                          : arith::MulIOp::create(
                                pb, l, iv,
                                arith::ConstantIndexOp::create(pb, l, tile))
                                .getResult();
          }
          auto offset = [&](unsigned d, int64_t i, Value count, bool exact,
                            SmallVector<Value> &valid) {
            Value at = base[d];
            if (i != 0)
              at = arith::AddIOp::create(
                  pb, l, at, arith::ConstantIndexOp::create(pb, l, i));
            if (exact || i == 0)
              return at;
            valid.push_back(arith::CmpIOp::create(
                pb, l, arith::CmpIPredicate::ult, at, count));
            Value last = arith::SubIOp::create(pb, l, count, one);
            return arith::MinUIOp::create(pb, l, at, last).getResult();
          };
          // Each element's loop indices, and whether it is stored.
          SmallVector<SmallVector<Value>> elementIvs;
          SmallVector<Value> stored;
          for (int64_t i = 0; i < rows; ++i)
            for (int64_t j = 0; j < cols; ++j) {
              SmallVector<Value> valid;
              SmallVector<Value> ivs(base);
              ivs[rowDim] = offset(rowDim, i, rowCount, rowsExact, valid);
              ivs[colDim] = offset(colDim, j, colCount, colsExact, valid);
              Value ok;
              for (Value v : valid)
                ok = ok ? arith::AndIOp::create(pb, l, ok, v).getResult() : v;
              elementIvs.push_back(std::move(ivs));
              stored.push_back(ok);
            }
          // The output's indices do not use the reduced dimensions; an
          // affine.apply still takes every index: 0 for those.
          auto clearReduced = [&] {
            for (SmallVector<Value> &ivs : elementIvs)
              for (unsigned d : reduced)
                ivs[d] = zero;
          };
          clearReduced();
          SmallVector<Value> accs;
          for (SmallVector<Value> &ivs : elementIvs)
            accs.push_back(
                filled ? filled
                       : memref::LoadOp::create(pb, l, output,
                                                applyMap(pb, l, r.outMap, ivs))
                             .getResult());
          // The reduction in order, every element's accumulator in a
          // register (iter_args) and each loaded value shared by the
          // elements that read it (LLVM merges the equal loads).
          SmallVector<Value> results =
              reduceInOrder(pb, l, op, reduced, loopRanges, 0, elementIvs, accs,
                            r.outArg, r.combiner);
          clearReduced();
          for (auto [ivs, result, ok] :
               llvm::zip(elementIvs, results, stored)) {
            Value value = result; // captured below (not a binding)
            SmallVector<Value> at = applyMap(pb, l, r.outMap, ivs);
            if (!ok) {
              memref::StoreOp::create(pb, l, value, output, at);
              continue;
            }
            scf::IfOp::create(pb, l, ok, [&](OpBuilder &ib, Location il) {
              memref::StoreOp::create(ib, il, value, output, at);
              scf::YieldOp::create(ib, il);
            });
          }
        });
    r.erase();
  }

  /// The loops over reduced dimensions `reduced[k..]` around the payloads of
  /// every element; returns their accumulators after them.
  static SmallVector<Value>
  reduceInOrder(OpBuilder &b, Location loc, linalg::LinalgOp op,
                ArrayRef<unsigned> reduced, ArrayRef<Range> ranges, size_t k,
                SmallVector<SmallVector<Value>> &elementIvs, ValueRange accs,
                BlockArgument outArg, Operation *combiner) {
    if (k == reduced.size()) {
      SmallVector<Value> next;
      for (auto [ivs, acc] : llvm::zip(elementIvs, accs))
        next.push_back(emitPayload(b, loc, op, ivs, outArg, acc, combiner));
      return next;
    }
    unsigned d = reduced[k];
    Value lb = getValueOrCreateConstantIndexOp(b, loc, ranges[d].offset);
    Value ub = getValueOrCreateConstantIndexOp(b, loc, ranges[d].size);
    Value step = getValueOrCreateConstantIndexOp(b, loc, ranges[d].stride);
    auto loop = scf::ForOp::create(
        b, loc, lb, ub, step, accs,
        [&](OpBuilder &fb, Location fl, Value iv, ValueRange carried) {
          for (SmallVector<Value> &ivs : elementIvs)
            ivs[d] = iv;
          scf::YieldOp::create(fb, fl,
                               reduceInOrder(fb, fl, op, reduced, ranges, k + 1,
                                             elementIvs, carried, outArg,
                                             combiner));
        });
    return SmallVector<Value>(loop.getResults());
  }
};

} // namespace
