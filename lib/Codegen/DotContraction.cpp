//===- DotContraction.cpp - register-blocked dot-product contractions -----===//
//
// Part of Loom, an MLIR-based compiler for transformer models.
//
// A contraction whose operands both have the reduction dimension innermost
// (y[.., s, n] += sum_k a[.., s, k] * b[.., n, k]: every linear layer, the
// LM head) becomes loops over blocks of `rows x cols` outputs. Each block
// keeps rows x cols vector accumulators in registers and, per step of
// `width` values of k, loads `rows` vectors of a and `cols` of b for
// rows x cols FMAs: each loaded vector is used `cols` (or `rows`) times
// instead of once. The accumulators are summed across lanes at the end, the
// k values past the last whole vector added one by one. Blocks at the edges
// of s and n run the same code for one output at a time. The block loops
// are one scf.parallel, which the runtime splits across threads.
//
//===----------------------------------------------------------------------===//

#include "ContractionLoops.h"
#include "loom/Codegen/Contractions.h"

#include "loom/Dialect/Loom/IR/LoomOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::loom::detail;

namespace {

/// The shape of a matched contraction, in loop dimensions.
struct DotShape {
  unsigned numLoops;
  unsigned k;                  ///< the reduction loop
  unsigned s, n;               ///< a's and b's own row loops
  SmallVector<unsigned> batch; ///< the other parallel loops
};

std::optional<DotShape> match(linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || op.getNumReductionLoops() != 1 ||
      !isMultiplyAdd(op))
    return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  unsigned numLoops = op.getNumLoops();
  DotShape shape;
  shape.numLoops = numLoops;
  SmallVector<utils::IteratorType> kinds = op.getIteratorTypesArray();
  for (unsigned d = 0; d < numLoops; ++d)
    if (kinds[d] == utils::IteratorType::reduction)
      shape.k = d;
  // The output: the parallel loops in order.
  AffineMap out = maps[2];
  if (out.getNumResults() != numLoops - 1)
    return std::nullopt;
  for (auto [i, e] : llvm::enumerate(out.getResults())) {
    std::optional<unsigned> d = dimOf(e);
    if (!d || *d == shape.k)
      return std::nullopt;
  }
  // Both inputs: loop dimensions only, k last and contiguous in memory.
  SmallVector<llvm::SmallDenseSet<unsigned, 4>> used(2);
  for (unsigned i = 0; i < 2; ++i) {
    AffineMap m = maps[i];
    if (m.getNumResults() == 0 || dimOf(m.getResults().back()) != shape.k)
      return std::nullopt;
    for (AffineExpr e : m.getResults()) {
      std::optional<unsigned> d = dimOf(e);
      if (!d)
        return std::nullopt;
      used[i].insert(*d);
    }
    auto type = dyn_cast<MemRefType>(op.getDpsInputOperand(i)->get().getType());
    if (!type || !type.isLastDimUnitStride())
      return std::nullopt;
    Type elt = type.getElementType();
    if (!elt.isF32() && !elt.isF16() && !elt.isBF16())
      return std::nullopt;
  }
  auto outType = dyn_cast<MemRefType>(op.getDpsInitOperand(0)->get().getType());
  if (!outType || !outType.getElementType().isF32())
    return std::nullopt;
  // The blocked loops: the last loop only a reads (its rows, tokens) and
  // the last only b reads (output features). All others are looped over.
  std::optional<unsigned> s, n;
  for (unsigned d = 0; d < numLoops; ++d) {
    if (d == shape.k)
      continue;
    bool inA = used[0].contains(d), inB = used[1].contains(d);
    if (!inA && !inB)
      return std::nullopt;
    if (inA && !inB)
      s = d;
    if (inB && !inA)
      n = d;
  }
  if (!s || !n)
    return std::nullopt;
  shape.s = *s;
  shape.n = *n;
  for (unsigned d = 0; d < numLoops; ++d)
    if (d != shape.k && d != shape.s && d != shape.n)
      shape.batch.push_back(d);
  return shape;
}

/// Loads, FMAs and stores of one block.
class BlockEmitter {
public:
  BlockEmitter(linalg::GenericOp op, const DotShape &shape, int64_t width,
               bool bf16Dot)
      : op(op), shape(shape), width(width), bf16Dot(bf16Dot) {
    maps = op.getIndexingMapsArray();
    a = op.getDpsInputOperand(0)->get();
    b = op.getDpsInputOperand(1)->get();
    y = op.getDpsInitOperand(0)->get();
  }

  /// `v` as f32 (widened from f16/bf16 where narrower).
  static Value widen(OpBuilder &builder, Location loc, Value v) {
    Type f32 = builder.getF32Type();
    Type type = v.getType();
    if (auto vec = dyn_cast<VectorType>(type))
      f32 = VectorType::get(vec.getShape(), f32);
    if (getElementTypeOrSelf(type).isF32())
      return v;
    return arith::ExtFOp::create(builder, loc, f32, v);
  }

  /// `width` values of `memref` from `idx` on, as f32.
  Value loadWide(OpBuilder &builder, Location loc, Value memref,
                 ValueRange idx) {
    Type elt = cast<MemRefType>(memref.getType()).getElementType();
    return widen(builder, loc,
                 vector::LoadOp::create(
                     builder, loc, VectorType::get({width}, elt), memref, idx));
  }

  /// The indices of operand `map` at the loop values `loops`.
  SmallVector<Value> indices(AffineMap map, ArrayRef<Value> loops) {
    SmallVector<Value> idx;
    for (AffineExpr e : map.getResults())
      idx.push_back(loops[*dimOf(e)]);
    return idx;
  }

  /// y[rows x cols block at loops] += sum_k a * b, with `rowIdx[i]`,
  /// `colIdx[j]` the s and n values of the block.
  void emit(OpBuilder &builder, Location loc, SmallVector<Value> loops,
            ArrayRef<Value> rowIdx, ArrayRef<Value> colIdx, Value kSize) {
    auto vecType = VectorType::get({width}, builder.getF32Type());
    auto fastmath =
        arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;
    Value c0 = arith::ConstantIndexOp::create(builder, loc, 0);
    // Both operands bf16 on a target with AVX512-BF16: each step takes 2 x
    // width values of k as bf16 pairs into one vdpbf16ps per output.
    auto isBF16 = [](Value v) {
      return cast<MemRefType>(v.getType()).getElementType().isBF16();
    };
    bool pairs = bf16Dot && isBF16(a) && isBF16(b);
    int64_t step = pairs ? 2 * width : width;
    Value cw = arith::ConstantIndexOp::create(builder, loc, step);
    // Whole vectors of k: kVec = kSize - kSize % step (a constant where k
    // is static, so the runtime's task sizes see the trip count).
    Value kVec;
    if (std::optional<int64_t> k = getConstantIntValue(kSize))
      kVec = arith::ConstantIndexOp::create(builder, loc, *k - *k % step);
    else
      kVec = arith::SubIOp::create(
          builder, loc, kSize, arith::RemUIOp::create(builder, loc, kSize, cw));
    Value zero = arith::ConstantOp::create(
        builder, loc, DenseElementsAttr::get(vecType, 0.0f));
    size_t rows = rowIdx.size(), cols = colIdx.size();
    SmallVector<Value> inits(rows * cols, zero);
    auto loop = scf::ForOp::create(
        builder, loc, c0, kVec, cw, inits,
        [&](OpBuilder &b2, Location l, Value k, ValueRange accs) {
          loops[shape.k] = k;
          SmallVector<Value> av, bv;
          auto pairType = VectorType::get({step}, b2.getBF16Type());
          for (Value r : rowIdx) {
            loops[shape.s] = r;
            av.push_back(pairs ? vector::LoadOp::create(b2, l, pairType, a,
                                                        indices(maps[0], loops))
                               : loadWide(b2, l, a, indices(maps[0], loops)));
          }
          for (Value c : colIdx) {
            loops[shape.n] = c;
            bv.push_back(pairs ? vector::LoadOp::create(b2, l, pairType, b,
                                                        indices(maps[1], loops))
                               : loadWide(b2, l, b, indices(maps[1], loops)));
          }
          SmallVector<Value> next;
          for (size_t i = 0; i < rows; ++i)
            for (size_t j = 0; j < cols; ++j)
              next.push_back(
                  pairs ? x86vector::DotBF16Op::create(
                              b2, l, vecType, accs[i * cols + j], av[i], bv[j])
                              .getResult()
                        : vector::FMAOp::create(b2, l, av[i], bv[j],
                                                accs[i * cols + j])
                              .getResult());
          scf::YieldOp::create(b2, l, next);
        });
    Value c1 = arith::ConstantIndexOp::create(builder, loc, 1);
    // The accumulators' lane sums, 8 at a time by one tree of shuffles
    // (sumLanesOf8, 16 lanes folded to 8 first: the order LLVM reduces
    // them in, so the sums are those of vector.reduction bit for bit, for
    // about half the operations), the rest one by one.
    SmallVector<Value> sums(rows * cols);
    size_t grouped = width == 8 || width == 16 ? rows * cols / 8 * 8 : 0;
    for (size_t g = 0; g < grouped; g += 8) {
      SmallVector<Value> eight;
      for (size_t m = 0; m < 8; ++m) {
        Value acc = loop.getResult(g + m);
        if (width == 16)
          acc = arith::AddFOp::create(
              builder, loc,
              vector::ShuffleOp::create(
                  builder, loc, acc, acc,
                  llvm::to_vector(llvm::seq<int64_t>(0, 8))),
              vector::ShuffleOp::create(
                  builder, loc, acc, acc,
                  llvm::to_vector(llvm::seq<int64_t>(8, 16))));
        eight.push_back(acc);
      }
      Value tree = sumLanesOf8(builder, loc, eight);
      for (size_t m = 0; m < 8; ++m)
        sums[g + m] = vector::ExtractOp::create(builder, loc, tree,
                                                ArrayRef<int64_t>{int64_t(m)});
    }
    for (size_t i = grouped; i < rows * cols; ++i)
      sums[i] =
          vector::ReductionOp::create(builder, loc, vector::CombiningKind::ADD,
                                      loop.getResult(i), fastmath);
    for (size_t i = 0; i < rows; ++i) {
      for (size_t j = 0; j < cols; ++j) {
        loops[shape.s] = rowIdx[i];
        loops[shape.n] = colIdx[j];
        Value sum = sums[i * cols + j];
        // The k values past the last whole vector.
        auto tail = scf::ForOp::create(
            builder, loc, kVec, kSize, c1, ValueRange{sum},
            [&](OpBuilder &b2, Location l, Value k, ValueRange acc) {
              SmallVector<Value> at = loops;
              at[shape.k] = k;
              Value x =
                  widen(b2, l,
                        memref::LoadOp::create(b2, l, a, indices(maps[0], at)));
              Value w =
                  widen(b2, l,
                        memref::LoadOp::create(b2, l, b, indices(maps[1], at)));
              Value p = arith::MulFOp::create(b2, l, x, w, fastmath);
              scf::YieldOp::create(b2, l,
                                   ValueRange{arith::AddFOp::create(
                                       b2, l, acc[0], p, fastmath)});
            });
        SmallVector<Value> outIdx = indices(maps[2], loops);
        Value old = memref::LoadOp::create(builder, loc, y, outIdx);
        Value updated =
            arith::AddFOp::create(builder, loc, old, tail.getResult(0));
        memref::StoreOp::create(builder, loc, updated, y, outIdx);
      }
    }
  }

  linalg::GenericOp op;
  const DotShape &shape;
  int64_t width;
  bool bf16Dot;
  SmallVector<AffineMap> maps;
  Value a, b, y;
};

} // namespace

LogicalResult mlir::loom::lowerDotContraction(RewriterBase &rewriter,
                                              linalg::GenericOp op,
                                              int64_t width, int64_t rows,
                                              int64_t cols, int64_t cacheBytes,
                                              bool bf16Dot) {
  std::optional<DotShape> shape = match(op);
  if (!shape)
    return failure();
  // A single row (decode: a matrix-vector product) is not blocked over
  // tokens; its weight rows are read one after another, each a whole dot
  // product: a block's rows interleaved step by step are as many streams a
  // row apart, which the hardware prefetcher follows badly (four
  // interleaved f32 rows measured 2x slower than one on stories15M's LM
  // head, q8_0 rows half the speed of rows in order, Zen 4). f32 rows were
  // once left to the plain parallel loops, but LLVM vectorized those with
  // one 8-wide accumulator, a chain of FMA latencies: stories110M f32
  // decode 42.6 -> 49.0 tok/s this way (Intel Xeon with AMX, 2 threads).
  SmallVector<int64_t> staticRanges = op.getStaticLoopRanges();
  bool oneRow = staticRanges[shape->s] == 1;
  if (oneRow)
    rows = 1;
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  SmallVector<Value> loopSizes = sizesOfLoops(rewriter, op);
  auto sizeOf = [&](unsigned d) { return loopSizes[d]; };
  Value c0 = arith::ConstantIndexOp::create(rewriter, loc, 0);
  Value sSize = sizeOf(shape->s), nSize = sizeOf(shape->n);
  Value kSize = sizeOf(shape->k);
  SmallVector<Value> leadSizes;
  for (unsigned d : shape->batch)
    leadSizes.push_back(sizeOf(d));
  BlockEmitter emitter(op, *shape, width, bf16Dot);
  emitBlockedLoops(
      rewriter, loc, leadSizes, sSize, nSize, rows, cols, rows * cols * width,
      chunkRows(rewriter, loc, cacheBytes, kSize,
                cast<MemRefType>(op.getDpsInputOperand(0)->get().getType())
                        .getElementTypeBitWidth() /
                    8,
                rows),
      [&](OpBuilder &b, Location l, ValueRange lead, ArrayRef<Value> rowIdx,
          ArrayRef<Value> colIdx) {
        SmallVector<Value> loops(shape->numLoops, c0);
        for (auto [i, d] : llvm::enumerate(shape->batch))
          loops[d] = lead[i];
        if (!oneRow) {
          emitter.emit(b, l, loops, rowIdx, colIdx, kSize);
          return;
        }
        for (Value c : colIdx)
          emitter.emit(b, l, loops, rowIdx, {c}, kSize);
      });
  rewriter.eraseOp(op);
  return success();
}
