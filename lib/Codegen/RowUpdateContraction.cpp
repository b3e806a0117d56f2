//===- RowUpdateContraction.cpp - contractions as row updates -------------===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// A contraction whose output's innermost dimension is contiguous in one
// operand and absent from the other (attention's P·V) becomes row updates
// instead: per output row, a few vector accumulators kept in registers
// while the reduction runs, each step one scalar of a broadcast against
// vectors of b.
//
//===----------------------------------------------------------------------===//

#include "ContractionLoops.h"
#include "loom/Codegen/Contractions.h"

#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::loom::detail;

namespace {

/// A contraction whose reduction is not innermost in memory but whose
/// output's innermost dimension `e` is (attention's P·V: out[b, h, i, e] +=
/// p[b, h, i, j] * v[b, h / g, j, e]).
struct RowUpdateShape {
  unsigned numLoops;
  unsigned r;                  ///< the reduction loop
  unsigned e;                  ///< the output's innermost loop, contiguous in b
  int64_t eSize;               ///< its (static) size
  unsigned scalar;             ///< the operand read once per (.., r): a
  SmallVector<unsigned> outer; ///< the other parallel loops
};

std::optional<RowUpdateShape> matchRowUpdate(linalg::GenericOp op,
                                             int64_t width) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || op.getNumReductionLoops() != 1 ||
      !isMultiplyAdd(op) || width <= 0)
    return std::nullopt;
  // f32 operands only (16-bit ones are for the dot-product form).
  if (!op.getRegion().getOps<arith::ExtFOp>().empty())
    return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  RowUpdateShape shape;
  shape.numLoops = op.getNumLoops();
  SmallVector<utils::IteratorType> kinds = op.getIteratorTypesArray();
  for (unsigned d = 0; d < shape.numLoops; ++d)
    if (kinds[d] == utils::IteratorType::reduction)
      shape.r = d;
  AffineMap out = maps[2];
  if (out.getNumResults() != shape.numLoops - 1 ||
      !out.isProjectedPermutation())
    return std::nullopt;
  std::optional<unsigned> e = dimOf(out.getResults().back());
  if (!e)
    return std::nullopt;
  shape.e = *e;
  // One input indexed by e last (the vector operand), one without e.
  auto usesDim = [](AffineMap m, unsigned d) {
    return llvm::any_of(m.getResults(),
                        [&](AffineExpr x) { return x.isFunctionOfDim(d); });
  };
  std::optional<unsigned> vectorOperand;
  for (unsigned i = 0; i < 2; ++i) {
    if (!usesDim(maps[i], shape.r))
      return std::nullopt;
    bool lastIsE = dimOf(maps[i].getResults().back()) == shape.e;
    bool elsewhere =
        llvm::any_of(maps[i].getResults().drop_back(),
                     [&](AffineExpr x) { return x.isFunctionOfDim(shape.e); });
    if (lastIsE && !elsewhere)
      vectorOperand = i;
    else if (usesDim(maps[i], shape.e))
      return std::nullopt;
  }
  if (!vectorOperand)
    return std::nullopt;
  shape.scalar = 1 - *vectorOperand;
  // The dot-product form (r innermost in both) is better where it applies.
  if (dimOf(maps[0].getResults().back()) == shape.r &&
      dimOf(maps[1].getResults().back()) == shape.r)
    return std::nullopt;
  auto contiguous = [](Value v) {
    auto t = dyn_cast<MemRefType>(v.getType());
    return t && t.getElementType().isF32() && t.isLastDimUnitStride();
  };
  if (!contiguous(op.getDpsInputOperand(*vectorOperand)->get()) ||
      !contiguous(op.getDpsInitOperand(0)->get()))
    return std::nullopt;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  shape.eSize = ranges[shape.e];
  // The row of accumulators stays in registers: a few whole vectors.
  if (ShapedType::isDynamic(shape.eSize) || shape.eSize % width != 0 ||
      shape.eSize / width > 8)
    return std::nullopt;
  for (unsigned d = 0; d < shape.numLoops; ++d)
    if (d != shape.r && d != shape.e)
      shape.outer.push_back(d);
  return shape;
}

} // namespace

LogicalResult mlir::loom::lowerRowUpdateContraction(RewriterBase &rewriter,
                                                    linalg::GenericOp op,
                                                    int64_t width) {
  std::optional<RowUpdateShape> shape = matchRowUpdate(op, width);
  if (!shape)
    return failure();
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  SmallVector<Value> loopSizes = sizesOfLoops(rewriter, op);
  auto sizeOf = [&](unsigned d) { return loopSizes[d]; };
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  Value a = op.getDpsInputOperand(shape->scalar)->get();
  Value b = op.getDpsInputOperand(1 - shape->scalar)->get();
  Value y = op.getDpsInitOperand(0)->get();
  AffineMap aMap = maps[shape->scalar], bMap = maps[1 - shape->scalar],
            yMap = maps[2];
  // Products in the op's own rounding: fused only where it allows.
  auto flags = arith::FastMathFlags::none;
  for (Operation &inner : op.getRegion().front())
    if (auto fm = dyn_cast<arith::ArithFastMathInterface>(&inner))
      flags = flags | fm.getFastMathFlagsAttr().getValue();
  bool fuse = bitEnumContainsAll(flags, arith::FastMathFlags::contract);

  Value c0 = arith::ConstantIndexOp::create(rewriter, loc, 0);
  Value c1 = arith::ConstantIndexOp::create(rewriter, loc, 1);
  SmallVector<Value> lbs(shape->outer.size(), c0),
      steps(shape->outer.size(), c1);
  SmallVector<Value> ubs;
  for (unsigned d : shape->outer)
    ubs.push_back(sizeOf(d));
  Value rSize = sizeOf(shape->r);
  int64_t vectors = shape->eSize / width;
  auto vecType = VectorType::get({width}, rewriter.getF32Type());
  auto parallel = scf::ParallelOp::create(
      rewriter, loc, lbs, ubs, steps,
      [&](OpBuilder &pb, Location l, ValueRange ivs) {
        SmallVector<Value> loops(shape->numLoops, c0);
        for (auto [i, d] : llvm::enumerate(shape->outer))
          loops[d] = ivs[i];
        // The operand indices of `map` at `loops` (affine expressions of
        // the loops, e.g. a head divided by the group size).
        auto indices = [&](OpBuilder &b2, AffineMap map) {
          SmallVector<Value> idx;
          for (AffineExpr x : map.getResults()) {
            if (std::optional<unsigned> d = dimOf(x)) {
              idx.push_back(loops[*d]);
              continue;
            }
            idx.push_back(affine::AffineApplyOp::create(
                b2, l, AffineMap::get(shape->numLoops, 0, x), loops));
          }
          return idx;
        };
        auto at = [&](OpBuilder &b2, AffineMap map, int64_t t) {
          loops[shape->e] = arith::ConstantIndexOp::create(b2, l, t * width);
          return indices(b2, map);
        };
        SmallVector<Value> accs;
        for (int64_t t = 0; t < vectors; ++t)
          accs.push_back(
              vector::LoadOp::create(pb, l, vecType, y, at(pb, yMap, t)));
        auto loop = scf::ForOp::create(
            pb, l, c0, rSize, c1, accs,
            [&](OpBuilder &fb, Location fl, Value r, ValueRange acc) {
              loops[shape->r] = r;
              Value s = memref::LoadOp::create(fb, fl, a, indices(fb, aMap));
              Value sv = vector::BroadcastOp::create(fb, fl, vecType, s);
              SmallVector<Value> next;
              for (int64_t t = 0; t < vectors; ++t) {
                Value bv =
                    vector::LoadOp::create(fb, fl, vecType, b, at(fb, bMap, t));
                if (fuse) {
                  next.push_back(vector::FMAOp::create(fb, fl, sv, bv, acc[t]));
                } else {
                  Value prod = arith::MulFOp::create(fb, fl, sv, bv, flags);
                  next.push_back(
                      arith::AddFOp::create(fb, fl, acc[t], prod, flags));
                }
              }
              scf::YieldOp::create(fb, fl, next);
            });
        for (int64_t t = 0; t < vectors; ++t)
          vector::StoreOp::create(pb, l, loop.getResult(t), y, at(pb, yMap, t));
        scf::ReduceOp::create(pb, l);
      });
  parallel->setAttr(loom::kTileWorkAttr,
                    rewriter.getI64IntegerAttr(shape->eSize));
  rewriter.eraseOp(op);
  return success();
}
